package keycache

import (
	"context"
	"testing"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers/services/servicetest"
	"github.com/keyline/keyline/projections"
)

// countingReader counts the loads that reach the read model.
type countingReader struct {
	*projections.Reader
	loads int
}

func (r *countingReader) KeyByHash(ctx context.Context, hash string) (projections.KeyRow, error) {
	r.loads++
	return r.Reader.KeyByHash(ctx, hash)
}

// cacheFixture is a SQLite store with every projection and a cache that
// observes each append, as the tailer's commit hook makes it in the server.
type cacheFixture struct {
	service *servicetest.Store
	reader  *countingReader
	cache   *Cache
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	s := servicetest.Open(t, "sqlite")
	r := &countingReader{Reader: s.Reader}
	return &cacheFixture{service: s, reader: r, cache: New(r)}
}

func (f *cacheFixture) append(t *testing.T, stream string, version int64, evs ...events.Event) {
	t.Helper()
	f.service.AppendObserved(t, f.cache.Observe, stream, version, evs...)
}

func (f *cacheFixture) get(t *testing.T, hash string) *Entry {
	t.Helper()
	e, err := f.cache.Get(context.Background(), hash)
	if err != nil {
		t.Fatalf("get %s: %v", hash, err)
	}
	return e
}

func TestCacheFollowsTheLog(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.append(t, events.APIStreamID("api_1"), 0, events.APICreated{APIID: "api_1", KeySpaceID: "ks_1", WorkspaceID: "ws_1", Name: "payments"})

	// An unknown hash is remembered as such until the key is created.
	if e := f.get(t, "hash_1"); e.Found {
		t.Fatalf("unknown hash found: %+v", e)
	}
	f.get(t, "hash_1")
	if f.reader.loads != 1 {
		t.Fatalf("negative entry not cached: %d loads", f.reader.loads)
	}
	f.append(t, events.IdentityStreamIDFor("ws_1", "user_1"), 0, events.IdentityCreated{IdentityID: "id_1", WorkspaceID: "ws_1",
		ExternalID: "user_1", Ratelimits: []events.Ratelimit{{ID: "rl_1", Name: "requests", Limit: 10, Duration: 1000}}})
	f.append(t, events.KeyStreamID("key_1"), 0, events.KeyCreated{KeyID: "key_1", WorkspaceID: "ws_1", APIID: "api_1",
		KeySpaceID: "ks_1", Hash: "hash_1", Start: "kl_", Name: "first", IdentityID: "id_1", Enabled: true})
	e := f.get(t, "hash_1")
	if !e.Found || e.KeyID != "key_1" || e.Name != "first" || !e.APILive || e.Identity == nil ||
		e.Identity.ExternalID != "user_1" || len(e.Identity.Ratelimits) != 1 || e.Identity.Ratelimits[0].Limit != 10 {
		t.Fatalf("created key: %+v (identity %+v)", e, e.Identity)
	}
	f.get(t, "hash_1")
	if f.reader.loads != 2 {
		t.Fatalf("positive entry not cached: %d loads", f.reader.loads)
	}

	// A change to the key, then to its identity, drops the entry.
	name := "second"
	f.append(t, events.KeyStreamID("key_1"), 1, events.KeyUpdated{KeyID: "key_1", WorkspaceID: "ws_1", Name: &events.Change[string]{Value: &name}})
	if e := f.get(t, "hash_1"); e.Name != "second" || f.reader.loads != 3 {
		t.Fatalf("after key.updated: name %q, %d loads", e.Name, f.reader.loads)
	}
	limits := []events.Ratelimit{{ID: "rl_1", Name: "requests", Limit: 20, Duration: 1000}}
	f.append(t, events.IdentityStreamIDFor("ws_1", "user_1"), 1, events.IdentityUpdated{IdentityID: "id_1", WorkspaceID: "ws_1", Ratelimits: &limits})
	if e := f.get(t, "hash_1"); e.Identity.Ratelimits[0].Limit != 20 || f.reader.loads != 4 {
		t.Fatalf("after identity.updated: %+v, %d loads", e.Identity.Ratelimits, f.reader.loads)
	}

	// Another key's change leaves this entry alone.
	f.append(t, events.KeyStreamID("key_2"), 0, events.KeyCreated{KeyID: "key_2", WorkspaceID: "ws_1", APIID: "api_1",
		KeySpaceID: "ks_1", Hash: "hash_2", Start: "kl_", Enabled: true})
	f.get(t, "hash_1")
	if f.reader.loads != 4 {
		t.Fatalf("unrelated key.created dropped the entry: %d loads", f.reader.loads)
	}
}

// A load that an invalidation overtook answers its caller once and is not
// kept: the next Get reads again.
func TestCacheDiscardsALoadThatRacedAnInvalidation(t *testing.T) {
	t.Parallel()
	f := newCacheFixture(t)
	f.append(t, events.KeyStreamID("key_1"), 0, events.KeyCreated{KeyID: "key_1", WorkspaceID: "ws_1", APIID: "api_1",
		KeySpaceID: "ks_1", Hash: "hash_1", Start: "kl_", Enabled: true})
	racing := &racingReader{countingReader: f.reader, during: func() {
		f.cache.Observe(events.Recorded{Name: "role.created", Payload: []byte(`{}`)})
	}}
	f.cache.reader = racing
	if e := f.get(t, "hash_1"); !e.Found {
		t.Fatalf("raced load: %+v", e)
	}
	racing.during = nil
	f.get(t, "hash_1")
	if f.reader.loads != 2 {
		t.Fatalf("a load overtaken by an invalidation was kept: %d loads", f.reader.loads)
	}
}

type racingReader struct {
	*countingReader
	during func()
}

func (r *racingReader) KeyByHash(ctx context.Context, hash string) (projections.KeyRow, error) {
	row, err := r.countingReader.KeyByHash(ctx, hash)
	if r.during != nil {
		r.during()
	}
	return row, err
}
