package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/rallypoint/rallypoint/demo-game/arena"
	"github.com/rallypoint/rallypoint/demo-game/match"
)

// The map flags, once parsed: the -map file's bytes and arena (nil: the
// default arena) and the -map-cache directory ("" keeps nothing).
var (
	mapData     []byte
	mapLayout   *arena.Layout
	mapCacheDir string
)

// defaultMapCache is where received maps are kept: the user's cache
// directory (os.UserCacheDir), or nowhere when there is none.
func defaultMapCache() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(d, "rallypoint", "maps")
}

// loadMapFlag reads and checks the -map file; it exits with status 2 when
// the file is not a map.
func loadMapFlag(path, cache string) {
	mapCacheDir = cache
	if path == "" {
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(2, "-map: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, arena.MaxMapFile+1))
	if err != nil {
		fail(2, "-map: %v", err)
	}
	m, err := arena.ParseMap(data)
	if err != nil {
		fail(2, "-map %s: %v", path, err)
	}
	mapData, mapLayout = data, &m.Layout
}

// withMap adds the map flags to a lobby configuration: the host offers
// the -map file; everyone keeps received maps in -map-cache and, in the
// headless mode, logs the map's progress on standard error.
func withMap(cfg match.LobbyConfig, host, headless bool) match.LobbyConfig {
	if host {
		cfg.Map = mapData
	}
	cfg.MapCache = mapCacheDir
	if headless {
		cfg.OnMap = mapLogger()
	}
	return cfg
}

// mapLogger returns an OnMap that logs each change of a lobby's map
// worth a line: the offer, progress, the map whole (with where it came
// from), who lacks it, errors.
func mapLogger() func(match.MapStatus) {
	var mu sync.Mutex
	last, waited := "", false
	return func(s match.MapStatus) {
		mu.Lock()
		defer mu.Unlock()
		var line string
		switch {
		case s.Err != nil:
			line = fmt.Sprintf("map error: %v", s.Err)
		case s.Missing != nil:
			who := make([]string, len(s.Missing.Members))
			for i, m := range s.Missing.Members {
				who[i] = fmt.Sprintf("%s (%d/%d pieces)", m, s.Missing.Have[m], s.Missing.Pieces)
			}
			line, waited = "waiting for the map at: "+strings.Join(who, ", "), true
		case waited:
			line, waited = "every member has the map", false
		case !s.Offered:
			return
		case s.Complete && s.Source == match.MapSourceOffered:
			line = fmt.Sprintf("offering map %q (%s, %d bytes)", s.Name, s.ID, s.Size)
		case s.Complete && s.Source == match.MapSourceCache:
			line = fmt.Sprintf("map %q %s loaded from the cache %s (no fetch)", s.Name, s.ID, s.CacheFile)
		case s.Complete:
			line = fmt.Sprintf("map %q %s received: %d bytes in %.3f s, hash ok", s.Name, s.ID, s.Size, s.Fetch.Seconds())
			if s.CacheFile != "" {
				line += ", cached in " + s.CacheFile
			}
		default:
			line = fmt.Sprintf("map %s: %d/%d pieces, %d/%d bytes", s.ID.Short(), s.Have, s.Pieces, s.Bytes, s.Size)
		}
		if line != last {
			last = line
			fmt.Fprintf(os.Stderr, "demo-game: %s\n", line)
		}
	}
}
