// Package matchmaker finds fair matches for players who do not know each
// other, and rates them afterwards with the Weng-Lin (OpenSkill) models.
package matchmaker
