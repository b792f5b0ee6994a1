package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/handlers"
	"github.com/keyline/keyline/infra/sqlstore"
	"github.com/keyline/keyline/infra/testenv"
	"github.com/keyline/keyline/projections"
)

// creditsData is the credits object of keys.getKey.
type creditsData struct {
	Remaining *int64 `json:"remaining"`
}

type getKeyData struct {
	KeyID   string       `json:"keyId"`
	Credits *creditsData `json:"credits"`
}

// remainingCredits reads a key's balance through keys.getKey.
func remainingCredits(t *testing.T, ts *testServer, keyID string) int64 {
	t.Helper()
	var got getKeyData
	ts.must(t, ts.RootKey, "keys.getKey", map[string]any{"keyId": keyID}, &got)
	if got.KeyID != keyID || got.Credits == nil || got.Credits.Remaining == nil {
		t.Fatalf("getKey %s: %+v", keyID, got)
	}
	return *got.Credits.Remaining
}

// journalAndLog opens the store beside the running server and returns how
// many spends wait in the journal and how many credits of keyID the log's
// key.credits_spent events hold.
func journalAndLog(t *testing.T, primary, keyID string) (pending, logged int64) {
	t.Helper()
	ctx := context.Background()
	db, cleanup, err := sqlstore.Open(ctx, configs.Database{Primary: primary})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	if pending, err = projections.NewReader(db).PendingCreditSpends(ctx); err != nil {
		t.Fatal(err)
	}
	recs, err := sqlstore.NewStore(db, nil, nil).ReadAfter(ctx, nil, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Name != (events.KeyCreditsSpent{}).EventName() {
			continue
		}
		var e events.KeyCreditsSpent
		if err := json.Unmarshal(r.Payload, &e); err != nil {
			t.Fatal(err)
		}
		if e.KeyID == keyID {
			logged += e.Amount
		}
	}
	return pending, logged
}

// A server killed with kill -9 in the middle of a credits run: after the
// restart the key has spent at least every credit a VALID answer reported
// and at most those plus the requests that never got an answer; the log
// holds exactly what was spent, and `keyline replay` changes no balance.
func TestCreditSpendsSurviveKillNine(t *testing.T) {
	for _, kind := range []string{"sqlite", "postgres"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			primary := "sqlite:" + filepath.Join(t.TempDir(), "keyline.db")
			if kind == "postgres" {
				primary = testenv.FreshPostgresDatabase(t)
			}
			port := testenv.FreePort(t)
			root := "kl_root_test_" + handlers.NewID("k")
			config := writeConfig(t, map[string]any{"httpPort": port, "database": map[string]any{"primary": primary},
				"bootstrap": map[string]any{"rootKey": root}})
			p, ts := startFromConfig(t, config, port)
			ts.RootKey = root
			api := ts.createAPI(t, root, "credits crash")
			const credits = int64(1) << 40 // never runs out: every answer is VALID
			keyID, key := ts.createKey(t, root, map[string]any{"apiId": api, "credits": map[string]any{"remaining": credits}})

			const workers = 32
			var (
				seen, unanswered atomic.Int64 // credits: of VALID answers, of requests the kill cut off
				answers          atomic.Int64
				killed           atomic.Bool
				mu               sync.Mutex
				failures         []string
				wg               sync.WaitGroup
			)
			c := fastClient()
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := rand.New(rand.NewPCG(uint64(w), 12))
					for {
						cost := int64(r.IntN(3) + 1)
						body, _ := json.Marshal(map[string]any{"key": key, "credits": map[string]any{"cost": cost}})
						code, err := verifyCode(c, ts, body)
						switch {
						case err != nil && killed.Load():
							// In flight when the server died (or sent after):
							// it may or may not have been spent.
							unanswered.Add(cost)
							return
						case err != nil || code != "VALID":
							mu.Lock()
							failures = append(failures, fmt.Sprintf("%q %v", code, err))
							mu.Unlock()
							return
						}
						seen.Add(cost)
						answers.Add(1)
					}
				}()
			}
			// Kill after a few folds ran, with spends still flowing.
			started := time.Now()
			testenv.Eventually(t, 2*time.Minute, func() (bool, string) {
				return answers.Load() >= 500 && time.Since(started) > 2500*time.Millisecond,
					fmt.Sprintf("%d VALID answers after %v", answers.Load(), time.Since(started))
			})
			killed.Store(true)
			if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			<-p.done
			wg.Wait()
			if len(failures) > 0 {
				t.Fatalf("%d verifications failed before the kill, first: %s", len(failures), failures[0])
			}

			p2, ts2 := startFromConfig(t, config, port)
			ts2.RootKey = root
			spent := credits - remainingCredits(t, ts2, keyID)
			t.Logf("%d VALID answers for %d credits, %d credits in flight at the kill; %d spent after the restart",
				answers.Load(), seen.Load(), unanswered.Load(), spent)
			if spent < seen.Load() || spent > seen.Load()+unanswered.Load() {
				t.Fatalf("spent %d credits after the restart, want within [%d, %d]", spent, seen.Load(), seen.Load()+unanswered.Load())
			}
			// The restarted server folds what the dead one left in the
			// journal: then the log holds every spend, no more.
			testenv.Eventually(t, 30*time.Second, func() (bool, string) {
				pending, logged := journalAndLog(t, primary, keyID)
				return pending == 0 && logged == spent, fmt.Sprintf("%d spends in the journal, the log holds %d of %d credits", pending, logged, spent)
			})

			before := dumpDatabase(t, primary)
			if out, errs, code := runProc(t, "replay", "--config", config); code != 0 {
				t.Fatalf("replay: exit %d\n%s\n%s", code, out, errs)
			}
			if got := credits - remainingCredits(t, ts2, keyID); got != spent {
				t.Fatalf("after the replay the key has spent %d credits, before it %d", got, spent)
			}
			assertSameRows(t, before, dumpDatabase(t, primary))

			if err := p2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			<-p2.done
			if p2.err != nil {
				t.Fatalf("SIGTERM: keyline exited with %v", p2.err)
			}
		})
	}
}
