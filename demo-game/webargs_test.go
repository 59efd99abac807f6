package main

import (
	"slices"
	"testing"
)

func TestWebArgs(t *testing.T) {
	for _, tc := range []struct {
		page string
		want []string
	}{
		{"http://127.0.0.1:7000/", []string{"-server=ws://127.0.0.1:7000/ws"}},
		{"https://game.example/arena/index.html", []string{"-server=wss://game.example/ws"}},
		{"http://h:1/?bot=1&quick&headless=true&frames=600", []string{"-bot=1", "-quick", "-headless=true", "-frames=600", "-server=ws://h:1/ws"}},
		{"http://h:1/?server=ws%3A%2F%2Fother%3A9%2Fws&name=A%20B", []string{"-server=ws://other:9/ws", "-name=A B"}},
		{"http://h:1/?server=", []string{"-server="}},
		{"http://h:1/?&&-players=3", []string{"-players=3", "-server=ws://h:1/ws"}},
		{"file:///tmp/index.html?bot", []string{"-bot"}},
	} {
		got, err := webArgs(tc.page)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("webArgs(%q) = %q, %v; want %q", tc.page, got, err, tc.want)
		}
	}
	if _, err := webArgs("http://h/?name=%zz"); err == nil {
		t.Error("a bad escape in the query was accepted")
	}
}
