// Command rallypoint is the Rallypoint server and its tools.
//
//	rallypoint serve [flags]       run the signaling, lobby and matchmaking server
//	rallypoint smoke               a local server plus a smoke match of two clients
//	rallypoint bench NAME [flags]  run a benchmark (rallypoint bench -h lists them)
//
// The binary holds flags and wiring only; the behaviour lives in the library
// packages.
package main

import (
	"fmt"
	"os"
	"sort"
)

// command is one subcommand of the binary. Each lives in its own file and
// registers itself from init.
type command struct {
	summary string
	run     func(args []string) error
}

var (
	commands = map[string]command{}
	benches  = map[string]command{}
)

func registerCommand(name, summary string, run func(args []string) error) {
	commands[name] = command{summary, run}
}

func registerBench(name, summary string, run func(args []string) error) {
	benches[name] = command{summary, run}
}

func main() {
	if len(os.Args) < 2 {
		usage(commands, "rallypoint")
		os.Exit(2)
	}
	cmd, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "rallypoint: unknown command %q\n", os.Args[1])
		usage(commands, "rallypoint")
		os.Exit(2)
	}
	if err := cmd.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "rallypoint %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func runBench(args []string) error {
	if len(args) < 1 || args[0] == "-h" || args[0] == "-help" {
		usage(benches, "rallypoint bench")
		return nil
	}
	b, ok := benches[args[0]]
	if !ok {
		usage(benches, "rallypoint bench")
		return fmt.Errorf("unknown benchmark %q", args[0])
	}
	return b.run(args[1:])
}

func usage(set map[string]command, prefix string) {
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s NAME [flags]\n", prefix)
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "  %-12s %s\n", n, set[n].summary)
	}
}
