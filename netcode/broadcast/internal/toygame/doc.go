// Package toygame is the small deterministic rollback.Game that the
// broadcast package's tests and its treepeer helper process play: players
// move by their inputs and a hash folds in every input and status, so two
// peers agree on a frame's state only if they applied the same inputs.
// It keeps the game in one place so the in-process tests and the
// processes of the field test play exactly the same rules.
//
// Its methods are not safe for concurrent use, like any rollback.Game.
package toygame
