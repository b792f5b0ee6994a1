package cluster

import (
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/keyline/keyline/infra/testenv"
)

func TestMain(m *testing.M) {
	testenv.BurnCPUIfChild()
	os.Exit(m.Run())
}

// The exactness tests on a saturated machine: a child process keeps twice
// as many threads as there are cores busy (like four `yes` on two cores)
// while they run with the product's forward timeout and fail mode. Before
// cluster.forwardTimeoutMs and the failure-detection timings were reworked,
// a loaded run admitted over the limit: a forward outlasted its 1 s bound
// and failed open, or a member starved for a few hundred milliseconds was
// declared dead and its keys moved.
func TestExactnessUnderCPULoad(t *testing.T) {
	testenv.LoadCPU(t, runtime.NumCPU(), 50*time.Second)
	t.Run("forwarded", func(t *testing.T) { forwardedDecisionsAreExact(t, 20) })
	t.Run("ownerCrash", ownerCrashAccuracy)
	t.Run("batchAcrossOwners", TestBatchAcrossOwnersIsAllOrNothing)
}
