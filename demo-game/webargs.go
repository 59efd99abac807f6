package main

import (
	"net/url"
	"strings"
)

// webArgs turns a web page's address into the demo's command line, for the
// browser build (see webargs_js.go): every query parameter is a flag, so
// ?bot=1&quick=1&headless=1&frames=600 runs as -bot=1 -quick=1 -headless=1
// -frames=600 (a parameter without a value, ?bot, is -bot). The parameters
// keep their order. Without a server parameter, -server is the rallypoint
// server that served the page: ws://HOST/ws for an http page, wss://HOST/ws
// for https; ?server= (empty) turns online play off, and a page not served
// over http(s) (a file) has no default server.
func webArgs(page string) ([]string, error) {
	u, err := url.Parse(page)
	if err != nil {
		return nil, err
	}
	var args []string
	server := false
	for _, kv := range strings.Split(u.RawQuery, "&") {
		if kv == "" {
			continue
		}
		k, v, hasValue := strings.Cut(kv, "=")
		k, err := url.QueryUnescape(k)
		if err != nil {
			return nil, err
		}
		v, err = url.QueryUnescape(v)
		if err != nil {
			return nil, err
		}
		k = strings.TrimLeft(k, "-")
		if k == "" {
			continue
		}
		if k == "server" {
			server = true
		}
		if hasValue {
			args = append(args, "-"+k+"="+v)
		} else {
			args = append(args, "-"+k)
		}
	}
	if !server && u.Host != "" {
		switch u.Scheme {
		case "http":
			args = append(args, "-server=ws://"+u.Host+"/ws")
		case "https":
			args = append(args, "-server=wss://"+u.Host+"/ws")
		}
	}
	return args, nil
}
