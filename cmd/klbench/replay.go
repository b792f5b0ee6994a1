package main

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/projections"
)

// replayTarget is the rate `keyline replay` must reach on each database.
const replayTarget = 50_000

// runReplay is the replay phase: it writes a generated log of n events
// straight into the events table of a SQLite file and of a fresh PostgreSQL
// database (multi-row INSERTs, no HTTP), builds the live read models on
// SQLite the way appends do (Runner.Apply, event by event, in large
// transactions), rebuilds every projection with Runner.Rebuild on both
// databases, and checks each rebuilt model equals the live one row by row.
func runReplay(ctx context.Context, tmp, pgBase string, n, rounds int, profile string) error {
	fmt.Printf("replay: generating a log of %d events\n", n)
	lite, closeLite, err := sqlstore.Open(ctx, configs.Database{Primary: "sqlite:" + filepath.Join(tmp, "replay.db")})
	if err != nil {
		return err
	}
	defer closeLite()
	var pg *sqlstore.DB
	if pgBase != "" {
		url, drop, err := freshPostgres(pgBase)
		if err != nil {
			return err
		}
		defer func() { _ = drop() }()
		var closePG func()
		if pg, closePG, err = sqlstore.Open(ctx, configs.Database{Primary: url}); err != nil {
			return err
		}
		defer closePG()
	}
	runner := projections.NewRunner(projections.All())
	liteStore := sqlstore.NewStore(lite, nil, nil)
	if err := runner.Setup(ctx, liteStore); err != nil {
		return err
	}
	// PostgreSQL gets its tables while the log is empty: a Setup over the
	// written log would catch every projection up event by event first,
	// which at a million events takes longer than everything else here.
	// Its replay therefore fills empty tables; SQLite's replaces its live
	// model.
	if pg != nil {
		if err := runner.Setup(ctx, sqlstore.NewStore(pg, nil, nil)); err != nil {
			return err
		}
	}
	gen := newLogGen()
	var inline time.Duration
	for written := 0; written < n; {
		batch := gen.next(min(10_000, n-written))
		// SQLite gets the log and its live read model in one transaction
		// per batch, as a long run of appends would leave them.
		err := lite.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			recs, err := insertEvents(ctx, tx, batch)
			if err != nil {
				return err
			}
			started := time.Now()
			err = runner.Apply(ctx, tx, recs)
			inline += time.Since(started)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: %w", err)
		}
		if pg != nil {
			if err := pg.Primary.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				_, err := insertEvents(ctx, tx, batch)
				return err
			}); err != nil {
				return fmt.Errorf("postgres: %w", err)
			}
		}
		written += len(batch)
	}
	fmt.Printf("replay: live read models built by Runner.Apply (the per-event fold appends use, and replay used before): %.0f events/s\n",
		float64(n)/inline.Seconds())
	live, err := snapshot(ctx, lite.Primary)
	if err != nil {
		return err
	}
	fmt.Printf("replay: live model: %s\n", live.summary())

	stores := []struct {
		name string
		db   *sqlstore.DB
	}{{"SQLite", lite}, {"PostgreSQL", pg}}
	var failed []string
	rates := map[string][]float64{}
	for round := range rounds {
		for _, s := range stores {
			if s.db == nil {
				continue
			}
			store := sqlstore.NewStore(s.db, nil, nil)
			stopProfile, err := capture(strings.ReplaceAll(profile, "DB", s.name), pprof.StartCPUProfile, pprof.StopCPUProfile)
			if err != nil {
				return err
			}
			started, cpu := time.Now(), cpuTime()
			done, err := runner.Rebuild(ctx, store, nil, nil)
			elapsed, cpu := time.Since(started), cpuTime()-cpu
			stopProfile()
			if err != nil {
				return fmt.Errorf("replay on %s: %w", s.name, err)
			}
			rate := float64(done) / elapsed.Seconds()
			rates[s.name] = append(rates[s.name], rate)
			rebuilt, err := snapshot(ctx, s.db.Primary)
			if err != nil {
				return err
			}
			same := "equal to the live model"
			if diff := live.diff(rebuilt); diff != "" {
				same = "DIFFERS from the live model: " + diff
				failed = append(failed, s.name+" model")
			}
			fmt.Printf("replay %-10s round %d: %d events in %s (klbench's CPU time %s): %.0f events/s; rebuilt model %s\n",
				s.name, round+1, done, elapsed.Round(time.Millisecond), cpu.Round(time.Millisecond), rate, same)
		}
	}
	for _, s := range stores {
		if s.db == nil {
			continue
		}
		r := slices.Clone(rates[s.name])
		slices.Sort(r)
		median := r[len(r)/2]
		if len(r)%2 == 0 {
			median = (r[len(r)/2-1] + r[len(r)/2]) / 2
		}
		verdict := "ok"
		if median < replayTarget {
			verdict = "BELOW TARGET"
			failed = append(failed, s.name+" rate")
		}
		fmt.Printf("replay %-10s median of %d: %.0f events/s (target ≥ %d: %s)\n", s.name, len(r), median, replayTarget, verdict)
	}
	if len(failed) > 0 {
		return fmt.Errorf("replay phase failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// insertEvents writes recs (positions unset) with multi-row INSERTs and
// returns them with the positions the database gave them.
func insertEvents(ctx context.Context, tx bun.Tx, recs []events.Recorded) ([]events.Recorded, error) {
	var first int64
	if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(position), 0) FROM events").Scan(&first); err != nil {
		return nil, err
	}
	const chunk = 500
	for i := 0; i < len(recs); i += chunk {
		part := recs[i:min(i+chunk, len(recs))]
		var q strings.Builder
		args := make([]any, 0, len(part)*7)
		q.WriteString("INSERT INTO events (stream_id, stream_version, name, version, payload, meta, occurred_at) VALUES ")
		for j, r := range part {
			if j > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?, ?, ?, ?, ?, ?)")
			args = append(args, r.StreamID, r.StreamVersion, r.Name, r.Version, string(r.Payload), `{"actorId":"klbench"}`, r.OccurredAt.UnixMilli())
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return nil, err
		}
	}
	out := make([]events.Recorded, len(recs))
	for i, r := range recs {
		r.Position = first + int64(i) + 1
		r.Meta = events.Metadata{ActorID: "klbench"}
		out[i] = r
	}
	return out, nil
}

// model is every projection table's rows as one hash each, in primary-key
// order. The rows are scanned into their Go types first, so SQLite and
// PostgreSQL are compared value by value. Hashes rather than the rows: the
// live model stays in memory while both replays run, and a few hundred MB
// of rows would give the replay's garbage collector that much more to
// mark, which `keyline replay` never has.
type model map[string][]uint64

func scanTable[R any](ctx context.Context, db bun.IDB) ([]uint64, error) {
	var rows []R
	if err := db.NewSelect().Model(&rows).OrderExpr("1").Scan(ctx); err != nil {
		return nil, err
	}
	hashes := make([]uint64, len(rows))
	for i, r := range rows {
		// JSON writes what pointers point to, and every field's value.
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		h := fnv.New64a()
		_, _ = h.Write(b)
		hashes[i] = h.Sum64()
	}
	return hashes, nil
}

var modelTables = []struct {
	name string
	scan func(context.Context, bun.IDB) ([]uint64, error)
}{
	{"workspaces", scanTable[projections.WorkspaceRow]},
	{"root_keys", scanTable[projections.RootKeyRow]},
	{"apis", scanTable[projections.APIRow]},
	{"identities", scanTable[projections.IdentityRow]},
	{"permissions", scanTable[projections.PermissionRow]},
	{"roles", scanTable[projections.RoleRow]},
	{"role_permissions", scanTable[projections.RolePermissionRow]},
	{"keys", scanTable[projections.KeyRow]},
	{"key_permissions", scanTable[projections.KeyPermissionRow]},
	{"key_roles", scanTable[projections.KeyRoleRow]},
	{"key_credits", scanTable[projections.KeyCreditsRow]},
	{"ratelimit_namespaces", scanTable[projections.RatelimitNamespaceRow]},
	{"ratelimit_overrides", scanTable[projections.RatelimitOverrideRow]},
}

func snapshot(ctx context.Context, db bun.IDB) (model, error) {
	m := model{}
	for _, t := range modelTables {
		rows, err := t.scan(ctx, db)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", t.name, err)
		}
		m[t.name] = rows
	}
	return m, nil
}

func (m model) summary() string {
	parts := make([]string, 0, len(modelTables))
	for _, t := range modelTables {
		parts = append(parts, fmt.Sprintf("%s %d", t.name, len(m[t.name])))
	}
	return strings.Join(parts, ", ")
}

// diff names the first table and row where other differs from m, or "".
func (m model) diff(other model) string {
	for _, t := range modelTables {
		a, b := m[t.name], other[t.name]
		if len(a) != len(b) {
			return fmt.Sprintf("%s has %d rows, want %d", t.name, len(b), len(a))
		}
		for i := range a {
			if a[i] != b[i] {
				return fmt.Sprintf("%s row %d (in primary-key order) differs", t.name, i)
			}
		}
	}
	return ""
}

// logGen produces a deterministic, realistic event log: a few workspaces
// with their root keys, APIs, permissions, roles, identities and rate-limit
// namespaces, then mostly key traffic (creations, updates, credit spends and
// changes, access changes, deletions) with some identity and override churn.
type logGen struct {
	rnd      *rand.Rand
	at       int64
	versions map[string]int64
	seq      int

	workspaces []string
	apis       []genAPI
	perms      map[string][]string // workspace → permission IDs
	roles      map[string][]string // workspace → role IDs
	namespaces map[string][]string // workspace → namespace IDs
	overrides  []events.RatelimitOverrideSet
	identities []events.IdentityCreated
	keys       []genKey
	pending    []events.Recorded
}

type genAPI struct{ id, workspace, keySpace string }

type genKey struct {
	id, workspace, api string
	limited            bool
	remaining, epoch   int64
	deleted            bool
}

func newLogGen() *logGen {
	return &logGen{rnd: rand.New(rand.NewPCG(12, 2026)), at: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(),
		versions: map[string]int64{}, perms: map[string][]string{}, roles: map[string][]string{}, namespaces: map[string][]string{}}
}

func (g *logGen) id(prefix string) string {
	g.seq++
	return fmt.Sprintf("%s_%08d", prefix, g.seq)
}

func (g *logGen) emit(stream string, e events.Event) {
	payload, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	g.versions[stream]++
	g.at += int64(g.rnd.IntN(3))
	g.pending = append(g.pending, events.Recorded{StreamID: stream, StreamVersion: g.versions[stream], Name: e.EventName(),
		Version: e.EventVersion(), Payload: payload, OccurredAt: time.UnixMilli(g.at)})
}

// next returns the next n events.
func (g *logGen) next(n int) []events.Recorded {
	if len(g.workspaces) == 0 {
		g.setup()
	}
	for len(g.pending) < n {
		g.step()
	}
	out := g.pending[:n]
	g.pending = append([]events.Recorded(nil), g.pending[n:]...)
	return out
}

func (g *logGen) pick(ids []string, k int) []string {
	out := make([]string, 0, k)
	for range k {
		if len(ids) == 0 {
			break
		}
		id := ids[g.rnd.IntN(len(ids))]
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

func (g *logGen) setup() {
	for w := range 20 {
		ws := g.id("ws")
		g.workspaces = append(g.workspaces, ws)
		g.emit(events.WorkspaceStreamID(ws), events.WorkspaceCreated{WorkspaceID: ws, Name: fmt.Sprintf("workspace-%d", w)})
		for r := range 3 {
			rk := g.id("rk")
			g.emit(events.RootKeyStreamID(rk), events.RootKeyCreated{RootKeyID: rk, WorkspaceID: ws, Hash: "hash_" + rk,
				Start: "kl_" + rk[len(rk)-4:], Name: fmt.Sprintf("root %d", r), Permissions: []string{"api.*.create_key", "api.*.verify_key"}})
		}
		for a := range 10 {
			api, ks := g.id("api"), g.id("ks")
			g.apis = append(g.apis, genAPI{api, ws, ks})
			g.emit(events.APIStreamID(api), events.APICreated{APIID: api, KeySpaceID: ks, WorkspaceID: ws, Name: fmt.Sprintf("api %d", a)})
		}
		for p := range 40 {
			perm := g.id("perm")
			g.perms[ws] = append(g.perms[ws], perm)
			slug := fmt.Sprintf("domain.%d.action", p)
			g.emit(events.PermissionStreamIDFor(ws, slug), events.PermissionCreated{PermissionID: perm, WorkspaceID: ws, Slug: slug, Name: slug})
		}
		for r := range 10 {
			role := g.id("role")
			g.roles[ws] = append(g.roles[ws], role)
			name := fmt.Sprintf("role-%d", r)
			g.emit(events.RoleStreamIDFor(ws, name), events.RoleCreated{RoleID: role, WorkspaceID: ws, Name: name,
				PermissionIDs: g.pick(g.perms[ws], 4)})
		}
		for ns := range 3 {
			id := g.id("ns")
			g.namespaces[ws] = append(g.namespaces[ws], id)
			g.emit(events.RatelimitNamespaceStreamID(id), events.RatelimitNamespaceCreated{NamespaceID: id, WorkspaceID: ws, Name: fmt.Sprintf("ns-%d", ns)})
		}
	}
}

func (g *logGen) newKey() {
	api := g.apis[g.rnd.IntN(len(g.apis))]
	k := genKey{id: g.id("key"), workspace: api.workspace, api: api.id, limited: g.rnd.IntN(2) == 0, epoch: 1}
	e := events.KeyCreated{KeyID: k.id, WorkspaceID: k.workspace, APIID: api.id, KeySpaceID: api.keySpace, Hash: "hash_" + k.id,
		Start: "sk_" + k.id[len(k.id)-4:], Name: "key " + k.id, Enabled: true, Meta: json.RawMessage(`{"plan":"pro","seats":3}`)}
	if k.limited {
		k.remaining = int64(1000 + g.rnd.IntN(1000))
		e.Remaining = &k.remaining
		if g.rnd.IntN(4) == 0 {
			e.Refill = &events.Refill{Interval: "daily", Amount: 1000}
		}
	}
	if g.rnd.IntN(3) == 0 {
		e.PermissionIDs = g.pick(g.perms[k.workspace], 2)
		e.RoleIDs = g.pick(g.roles[k.workspace], 1)
	}
	if g.rnd.IntN(5) == 0 {
		e.Ratelimits = []events.Ratelimit{{ID: "rl_" + k.id, Name: "requests", Limit: 100, Duration: 60000, AutoApply: true}}
	}
	if g.rnd.IntN(4) == 0 && len(g.identities) > 0 {
		e.IdentityID = g.identities[g.rnd.IntN(len(g.identities))].IdentityID
	}
	g.keys = append(g.keys, k)
	g.emit(events.KeyStreamID(k.id), e)
}

// step emits one operation, which is one event or a few.
func (g *logGen) step() {
	if len(g.keys) < 1000 {
		g.newKey()
		return
	}
	k := &g.keys[g.rnd.IntN(len(g.keys))]
	stream := events.KeyStreamID(k.id)
	r := g.rnd.IntN(1000)
	if k.deleted && r < 845 { // a deleted key takes no more commands
		g.newKey()
		return
	}
	switch {
	case r < 150:
		g.newKey()
	case r < 520: // credit spends, flushed per key and epoch
		if !k.limited || k.deleted {
			g.newKey()
			return
		}
		amount := int64(1 + g.rnd.IntN(5))
		epoch := k.epoch
		if g.rnd.IntN(20) == 0 {
			epoch-- // a flush that lost the race with a set-like event
		}
		k.remaining -= amount
		g.emit(stream, events.KeyCreditsSpent{KeyID: k.id, WorkspaceID: k.workspace, Amount: amount, Epoch: epoch})
	case r < 600:
		name := fmt.Sprintf("renamed %d", g.rnd.IntN(100))
		g.emit(stream, events.KeyUpdated{KeyID: k.id, WorkspaceID: k.workspace, Name: &events.Change[string]{Value: &name},
			Meta: &events.Change[json.RawMessage]{Value: &json.RawMessage{'{', '}'}}})
	case r < 640:
		if g.rnd.IntN(2) == 0 {
			g.emit(stream, events.KeyDisabled{KeyID: k.id, WorkspaceID: k.workspace})
		} else {
			g.emit(stream, events.KeyEnabled{KeyID: k.id, WorkspaceID: k.workspace})
		}
	case r < 660:
		k.deleted = true
		g.emit(stream, events.KeyDeleted{KeyID: k.id, WorkspaceID: k.workspace, Permanent: g.rnd.IntN(3) == 0})
	case r < 700:
		if !k.limited {
			return
		}
		k.epoch++
		switch g.rnd.IntN(3) {
		case 0:
			k.remaining = int64(g.rnd.IntN(5000))
			g.emit(stream, events.KeyCreditsSet{KeyID: k.id, WorkspaceID: k.workspace, Remaining: &k.remaining})
		case 1:
			k.epoch--
			k.remaining += 100
			g.emit(stream, events.KeyCreditsIncremented{KeyID: k.id, WorkspaceID: k.workspace, By: 100})
		default:
			k.remaining = max(k.remaining-50, 0)
			g.emit(stream, events.KeyCreditsDecremented{KeyID: k.id, WorkspaceID: k.workspace, By: 50, Result: k.remaining})
		}
	case r < 720:
		if !k.limited {
			return
		}
		k.epoch++
		k.remaining = 1000
		period := time.UnixMilli(g.at).UTC().Format("2006-01-02")
		g.emit(events.KeyRefillStreamID(k.id, period+fmt.Sprint(g.seq)), events.KeyRefilled{KeyID: k.id, WorkspaceID: k.workspace, Amount: 1000, Period: period})
		g.seq++
	case r < 820: // permissions below 780, roles above
		g.accessChange(stream, k, r < 780)
	case r < 835:
		g.newKey()
		g.emit(stream, events.KeyRerolled{KeyID: k.id, WorkspaceID: k.workspace, NewKeyID: g.keys[len(g.keys)-1].id, Expires: g.at + 86_400_000})
	case r < 845:
		g.emit(stream, events.KeyMigrated{KeyID: k.id, WorkspaceID: k.workspace, OldHash: "hash_" + k.id, Hash: g.id("rehash"), Start: "sk_m"})
	case r < 920:
		g.identityStep()
	case r < 970:
		g.overrideStep()
	case r < 972:
		g.rbacStep()
	default:
		api := g.apis[g.rnd.IntN(len(g.apis))]
		g.emit(events.APIStreamID(api.id), events.APIIPAllowlistSet{APIID: api.id, WorkspaceID: api.workspace, IPs: []string{"10.0.0.1", "10.0.0.2"}})
	}
}

// accessChange emits an addition, a removal or a replacement of a key's
// permissions (perms) or roles, with IDs of its workspace.
func (g *logGen) accessChange(stream string, k *genKey, perms bool) {
	pool, sizes := g.roles[k.workspace], [3]int{1, 1, 2}
	if perms {
		pool, sizes = g.perms[k.workspace], [3]int{2, 1, 3}
	}
	op := g.rnd.IntN(3)
	ids := g.pick(pool, sizes[op])
	id, ws := k.id, k.workspace
	changes := [...]events.Event{
		events.KeyRolesAdded{KeyID: id, WorkspaceID: ws, RoleIDs: ids},
		events.KeyRolesRemoved{KeyID: id, WorkspaceID: ws, RoleIDs: ids},
		events.KeyRolesSet{KeyID: id, WorkspaceID: ws, RoleIDs: ids},
		events.KeyPermissionsAdded{KeyID: id, WorkspaceID: ws, PermissionIDs: ids},
		events.KeyPermissionsRemoved{KeyID: id, WorkspaceID: ws, PermissionIDs: ids},
		events.KeyPermissionsSet{KeyID: id, WorkspaceID: ws, PermissionIDs: ids},
	}
	if perms {
		op += 3
	}
	g.emit(stream, changes[op])
}

func (g *logGen) identityStep() {
	if len(g.identities) < 100 || g.rnd.IntN(3) == 0 {
		ws := g.workspaces[g.rnd.IntN(len(g.workspaces))]
		ext := fmt.Sprintf("user-%d", g.rnd.IntN(50_000))
		e := events.IdentityCreated{IdentityID: g.id("id"), WorkspaceID: ws, ExternalID: ext, Meta: json.RawMessage(`{"tier":"gold"}`)}
		g.identities = append(g.identities, e)
		g.emit(events.IdentityStreamIDFor(ws, ext), e)
		return
	}
	i := g.rnd.IntN(len(g.identities))
	id := g.identities[i]
	stream := events.IdentityStreamIDFor(id.WorkspaceID, id.ExternalID)
	if g.rnd.IntN(4) == 0 {
		g.identities = append(g.identities[:i], g.identities[i+1:]...)
		g.emit(stream, events.IdentityDeleted{IdentityID: id.IdentityID, WorkspaceID: id.WorkspaceID, ExternalID: id.ExternalID})
		return
	}
	g.emit(stream, events.IdentityUpdated{IdentityID: id.IdentityID, WorkspaceID: id.WorkspaceID,
		Ratelimits: &[]events.Ratelimit{{ID: "rl_" + id.IdentityID, Name: "tokens", Limit: int64(g.rnd.IntN(1000)), Duration: 1000}}})
}

func (g *logGen) overrideStep() {
	if len(g.overrides) < 50 || g.rnd.IntN(2) == 0 {
		ws := g.workspaces[g.rnd.IntN(len(g.workspaces))]
		ns := g.namespaces[ws][g.rnd.IntN(len(g.namespaces[ws]))]
		e := events.RatelimitOverrideSet{OverrideID: g.id("ovr"), NamespaceID: ns, WorkspaceID: ws,
			Identifier: fmt.Sprintf("customer_%d*", g.rnd.IntN(1000)), Limit: int64(10 + g.rnd.IntN(100)), DurationMs: 60_000}
		if len(g.overrides) > 0 && g.rnd.IntN(2) == 0 { // change an existing one
			e = g.overrides[g.rnd.IntN(len(g.overrides))]
			e.Limit++
		} else {
			g.overrides = append(g.overrides, e)
		}
		g.emit(events.RatelimitOverrideStreamID(e.OverrideID), e)
		return
	}
	e := g.overrides[g.rnd.IntN(len(g.overrides))]
	g.emit(events.RatelimitOverrideStreamID(e.OverrideID), events.RatelimitOverrideDeleted{OverrideID: e.OverrideID,
		NamespaceID: e.NamespaceID, WorkspaceID: e.WorkspaceID, Identifier: e.Identifier})
}

// rbacStep deletes a permission or a role (detaching it from every key and
// role) and creates a replacement, or replaces a role's permissions.
func (g *logGen) rbacStep() {
	ws := g.workspaces[g.rnd.IntN(len(g.workspaces))]
	switch g.rnd.IntN(3) {
	case 0:
		perms := g.perms[ws]
		i := g.rnd.IntN(len(perms))
		slug := fmt.Sprintf("gen.%d", g.seq)
		g.emit(events.PermissionStreamIDFor(ws, "deleted"+perms[i]), events.PermissionDeleted{PermissionID: perms[i], WorkspaceID: ws, Slug: slug})
		perms[i] = g.id("perm")
		g.emit(events.PermissionStreamIDFor(ws, slug), events.PermissionCreated{PermissionID: perms[i], WorkspaceID: ws, Slug: slug, Name: slug})
	case 1:
		roles := g.roles[ws]
		i := g.rnd.IntN(len(roles))
		g.emit(events.RoleStreamIDFor(ws, "deleted"+roles[i]), events.RoleDeleted{RoleID: roles[i], WorkspaceID: ws, Name: roles[i]})
		roles[i] = g.id("role")
		g.emit(events.RoleStreamIDFor(ws, roles[i]), events.RoleCreated{RoleID: roles[i], WorkspaceID: ws, Name: roles[i], PermissionIDs: g.pick(g.perms[ws], 3)})
	default:
		role := g.roles[ws][g.rnd.IntN(len(g.roles[ws]))]
		g.emit(events.RoleStreamIDFor(ws, role+"-set"), events.RolePermissionsSet{RoleID: role, WorkspaceID: ws, PermissionIDs: g.pick(g.perms[ws], 3)})
	}
}

// replayAlone is `klbench -only-replay`.
func replayAlone(o options) error {
	tmp, err := os.MkdirTemp("", "klbench-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	return runReplay(context.Background(), tmp, o.pgURL, o.replayEvents, max(1, o.replayRounds), o.replayProfile)
}

// cpuTime is the CPU time this process has used so far: on a shared
// machine it tells a slow phase from a starved one.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
