package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"runtime/debug"
	"time"
)

// serveDebug serves the Go profiler (/debug/pprof/...) and /debug/gc on
// addr, a listener of its own that is never meant to be public (bind it
// to a loopback or management address). /debug/gc collects garbage and
// returns freed memory to the OS, so that the process's RSS reflects its
// live memory (rallypoint bench cluster reads it before and after its
// sessions). It returns once the listener is bound; the server stops
// when ctx ends.
func serveDebug(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-debug-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "heap_alloc %d\nheap_inuse %d\nheap_sys %d\nheap_released %d\nstack_inuse %d\nother_sys %d\ngc_sys %d\nsys %d\ngoroutines %d\n",
			ms.HeapAlloc, ms.HeapInuse, ms.HeapSys, ms.HeapReleased, ms.StackInuse, ms.OtherSys, ms.GCSys, ms.Sys, runtime.NumGoroutine())
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	log.Info("debug listening", "addr", ln.Addr().String())
	return ln.Addr(), nil
}
