// Package ui is the Ebiten side of the demo game: the screens and the
// drawing. The rules live in demo-game/arena and the match plumbing in
// demo-game/match; this package only reads the keyboard, calls
// match.Session.Tick once per frame and draws the state.
//
// # Screens
//
//   - Main menu: Play vs bots (selected at start; Left/Right sets the number
//     of bots, Enter plays), Local lobby, Watch bots play, Host on LAN, Join
//     on LAN, Nearby players, Quick match online, Create online lobby and Join
//     by code (the last three with Config.ServerURL; in a browser too, where
//     the server is the page's), Quit (not in a browser). Items that cannot work here
//     are drawn dimmed and say why ("not available in this build", "needs
//     -server") rather than pretend.
//   - Connecting: while a networked match or lobby is set up (the
//     matchmaker's queue, hosting, creating or joining a lobby, connecting
//     the mesh after a lobby's start) on its own goroutine; Esc cancels.
//   - Join on LAN: the live list of the lobbies hosted on the network
//     (lobby.Browser); Enter joins one.
//   - Nearby players: opening it makes the player visible on the LAN
//     (lobby/nearby, Config.Nearby) until it hides (H) or the game ends;
//     the live list shows each visible player's name, status (idle, in a
//     lobby, in a match) and game; Enter hosts a LAN lobby and invites the
//     selected player to it. With a server (Config.ServerURL and
//     Config.Nearby, as the demo's -server sets them) the list is the
//     server's visible players and the invitation is to a new online lobby,
//     joined by its code. The player's status follows the screen (a
//     lobby, a match). An invitation shows as a notification on the menu
//     and this screen: Y accepts and joins the lobby, N declines. Messages
//     and answers show as a toast.
//   - Join by code: six boxes for a lobby's join code; Enter joins it.
//   - Lobby (LAN or online, over the lobby package): the members in join
//     order (their seats) named by their metadata, host and ready state,
//     open seats, the join code, and the chat (type a line, Enter sends).
//     Tab toggles ready; the host changes the player count with Left/Right
//     and starts with F2. On the lobby's Started event every member goes
//     to Connecting (match.Lobby.Play with the event's roster) and then
//     into the match. Esc leaves (and stops hosting
//     a LAN lobby). The lobby calls run on their own goroutines and their
//     errors show as a message; Update drains the lobby's events.
//   - Local lobby: the same screen against bots, who are always ready.
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
// does). Network calls (dials, lobby calls, the mesh's connection) run on
// goroutines of their own whose results Update drains without waiting.
package ui
