// Package ui is the Ebiten side of the demo game: the screens and the
// drawing. The rules live in demo-game/arena and the match plumbing in
// demo-game/match; this package only reads the keyboard, calls
// match.Session.Tick once per frame and draws the state.
//
// # Screens
//
//   - Main menu: Play vs bots (selected at start; Left/Right sets the number
//     of bots, Enter plays), Local lobby, Watch bots play, Host on LAN, Join
//     on LAN, Quick match online (with Config.ServerURL), Join by code, Quit.
//     Items that cannot work here are drawn dimmed and say why ("not
//     available in this build", "needs -server") rather than pretend.
//   - Connecting: while a networked match is set up (queueing online,
//     hosting or joining on the LAN) on its own goroutine; Esc cancels.
//   - Join on LAN: a live list of the matches hosted on the network.
//   - Lobby: members with their ready state, player count, chat, ready (Tab)
//     and start (F2). This lobby is local: the other seats are bots (a
//     networked lobby needs the lobby service).
//   - Match: the arena, a HUD with each player's rounds and kills, the
//     countdown and round banners, and the network overlay (F3) fed from
//     match.Stats: transport, ping, kbps and candidate type per peer,
//     rollback frames, frames ahead and the injected lag and loss. F5 and F6
//     step the injected lag and loss through match.Session.SetConditions,
//     and say so on screen when the session has no simulator.
//   - Results: the winner, rounds and kills per player, and the final
//     checksum.
//
// Controls in a match: arrows or WASD drive, Space (or J) fires, Shift (or
// K) dashes, Esc returns to the menu.
//
// # Screenshots and exits
//
// Config.Frames makes the game exit by itself after that many frames, and
// Config.Screenshot writes the last frame drawn as a PNG first: the game's
// own pixels, read back with ebiten.Image.ReadPixels, so the picture is the
// same under Xvfb as on a desktop.
//
// # Concurrency
//
// Everything runs on Ebiten's game loop: Update and Draw are never called
// concurrently, and no frame blocks on the network (a Session's Tick never
// does).
package ui
