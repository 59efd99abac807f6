package main

import (
	"fmt"
	"os"
	"syscall/js"
)

// In a browser the page's address is the command line (webArgs): flags come
// from the query string, and -server defaults to the rallypoint server that
// served the page.
func init() {
	args, err := webArgs(js.Global().Get("location").Get("href").String())
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo-game: the page's address: %v\n", err)
		os.Exit(2)
	}
	os.Args = append([]string{"demo-game"}, args...)
}
