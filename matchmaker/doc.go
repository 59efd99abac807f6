// Package matchmaker finds fair matches for players who do not know each
// other, and rates them afterwards with the Weng-Lin (OpenSkill) models.
//
// It is pure logic: no sockets, no goroutines, no timers. The
// matchmaker/service package serves it over the signaling protocol (the
// mm.* messages, documented in docs/matchmaker.md); a game server may embed
// it directly.
//
// # Queues, tickets and passes
//
// A Matchmaker holds queues (AddQueue). Each queue has a Shape (1v1, teams of
// N, a free-for-all between a minimum and a maximum of players, a multiple
// of the team count) and Rules. Players wait as Tickets: one player or a
// party that will play on one team, with string, number and tag attributes,
// a rating per player and optional per-region latencies.
//
// Nothing happens until Process runs a pass. A pass expires tickets past
// their queue's TTL, serves backfill requests from running sessions first,
// and then builds new matches: the longest-waiting ticket is the seed, and
// the matchmaker adds the longest-waiting compatible tickets until the
// match is full. The caller decides the cadence (the service runs a ticker);
// tests inject a clock through Config.Now and call Process to step time.
// A ticket or a backfill request that waited elsewhere (on a cluster's
// previous leader) is put back with EnqueueSince or RequestBackfillSince:
// its wait, and with it its rules' widening, goes on from that time.
//
// # Rules and expansion
//
// RuleSkill and RuleDifference bound the spread of a value over the match,
// RuleEqual requires equal strings, RuleRange admits tickets whose number
// lies in a range, RuleLatency requires a region every ticket reaches
// within a latency, RuleTags requires a shared tag. A hard region lock is a
// RuleEqual on a "region" string; a set of acceptable regions is a RuleTags
// over region tags. Each rule may carry
// Steps: after a wait it takes a new value or switches off, for example a
// skill window of 3, then 6 after 10 s, then 12 after 30 s. A step applies
// from exactly its After (wait >= After). Comparisons between tickets use
// the seed's wait. Shape.MinTeamsSteps relaxes the player count of a
// free-for-all the same way.
//
// Teams are balanced by rating (two teams of up to 16 tickets exactly,
// larger shapes greedily), parties are never split, and every Match carries
// a quality score: the predicted draw probability, with each team's
// predicted win probability.
//
// # Ratings
//
// Rater implements Weng and Lin's Plackett-Luce and Bradley-Terry (full
// pairing) updates for teams and free-for-all with ranks and ties, the
// conservative Ordinal (mu - 3 sigma), and openskill's win and draw
// predictions. It reproduces openskill.py's published test vectors
// (testdata/README.md names them). A Rater does not allocate once warm.
//
// # Concurrency
//
// A Matchmaker is safe for concurrent use; Process holds its lock for the
// pass. The Result of a pass belongs to its caller: no later pass writes
// to it, so it may be read or kept on another goroutine. A Rater is not
// safe for concurrent use: use one per goroutine.
//
// # Cost of a pass
//
// A pass sweeps the pool once in enqueue order (expiring, compacting and
// gathering each partition's sort keys; an entry is 320 bytes, a size
// class whose objects start on a cache line, and keeps what a sweep reads
// of every ticket in its first line and what a pass reads of the tickets
// it tries and matches in its first four), sorts each partition by skill
// (by radix on an integer form of the skill, a few sequential passes over
// 16-byte keys) and keeps a 16-ary segment tree over it keyed by enqueue
// order (a leaf node is 16 keys of 32 bits, one cache line; a value above
// is one word, key and position), so "the longest-waiting
// ticket inside this skill window that was not examined yet" costs reads of
// a few contiguous cache lines on each of O(log n) levels (6 at 100,000
// tickets), and gives the ticket's enqueue rank with its position. Each
// seed's first window is found for the whole partition after the sort, in
// one sequential sweep over the skills per window width, and read in the
// seeds' order; a seed alone in it is set aside without a search. A
// window is searched again (a branch-free binary search over every 64th
// skill, a small array that stays in cache, then one cache line of every
// 8th skill and one line of skills) only when a member widens the group.
// A seed leaves the tree while it searches; tickets a seed examined and
// rejected go back into the tree for later seeds. Taking a ticket out
// recomputes only the nodes whose smallest key it was, and putting one
// back only compares on the way up. Tickets and players are found through
// an open-addressing index whose 16-byte slots keep 56 bits of their keys'
// hashes; an entry holds its slots' handles, and a pass marks the slots of
// the tickets it takes out in a bitmap and writes their tombstones in slot
// order at its end.
//
// Entries are read in enqueue order wherever the pass can: a partition's
// entries are kept by rank, and the candidates of a dense pool are mostly
// tickets enqueued shortly after their seed. On amd64 the pass prefetches
// what the seeds 16 places ahead will read (their entries, a party's
// players, the tree leaf the seed leaves, the tree's nodes at the ends of
// its first window and, when that window holds few tickets, their
// entries) and the entries 64 places ahead (where nearly all candidates
// lie), so those cache misses overlap with the current seed's work
// instead of each waiting in turn. A pass marks the tickets it matches in a
// bitmap by rank and keeps the others without reading every entry again.
//
// Memory for a pass is reserved as tickets arrive, the way a slice grows
// with appends: Enqueue keeps each partition's arrays, the search's
// scratch, chunks for the matches' teams, players and tickets, and an
// array with room for as many Matches as the waiting pool could make
// (half as much again when it is made anew) ready. A pass then
// allocates almost nothing: it builds its matches in that room and its
// Result takes the part it filled, with Matches' capacity cut at its
// length; the rest stays for later passes. No part of the room is ever
// handed out twice, so a caller may keep a Result, and append to its
// slices, for as long as it likes. A kept Result keeps the array it was
// built in alive (200 to 300 bytes per match the pool could make when the
// array was made). Packing parties and balancing teams reuse their scratch too, so
// the collector has nothing to do while a pass runs. The price is memory
// held while tickets wait: about 440 bytes per waiting 1v1 ticket besides
// the ticket itself (100,000 waiting 1v1 tickets take about 86 MB, about
// 44 MB of it this room), most of which the next pass would have
// allocated anyway, and a pass that
// used the room up makes the next Enqueue allocate it anew (15 MB for
// 100,000 waiting 1v1 tickets).
//
// A pool of 100,000 entries (about 32 MB) and the Result a pass writes for
// it (about 584 bytes per 1v1 match) do not fit the processor's caches
// where 10,000 do, so a pass over it still waits for memory more than one
// over 10,000 (docs/matchmaker.md has figures).
// `rallypoint bench matchmaker` measures passes over 10,000 and 100,000
// tickets (wall and CPU time, the collector's share and
// what the pass allocated); tests check that the indexes pick the same
// matches as a scan of every ticket and bound what a pass allocates.
//
// # Limits
//
// Input beyond the constants in limits.go (party size, attributes, string
// lengths, rules, steps, teams) is refused with a coded error wrapping
// ErrInvalidTicket, ErrInvalidQueue or ErrInvalidGame; a queue refuses
// tickets past MaxTickets with ErrPoolFull. A seed examines at most
// QueueConfig.MaxScan incompatible candidates per pass.
package matchmaker
