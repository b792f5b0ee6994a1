package runtime

import (
	"reflect"
	"testing"

	"github.com/keyline/keyline/infra/sqlstore"
)

// Every component of the server that follows the log must be registered
// with Tailer.Follow, which feeds it both local commits and the tailer: a
// cache added to Server but not to caches() would miss both paths. The test
// fills each Follower field with a fresh value and looks for it in caches().
func TestEveryCacheFollowsTheLog(t *testing.T) {
	follower := reflect.TypeFor[sqlstore.Follower]()
	var s Server
	v := reflect.ValueOf(&s).Elem()
	var want []string
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Type.Kind() != reflect.Pointer || !f.Type.Implements(follower) {
			continue
		}
		v.Field(i).Set(reflect.New(f.Type.Elem()))
		want = append(want, f.Name)
	}
	if len(want) < 3 {
		t.Fatalf("found the followers %v; want at least Auth, Ratelimits and Keys", want)
	}
	for _, name := range want {
		field := v.FieldByName(name).Interface()
		found := false
		for _, c := range s.caches() {
			if c == field {
				found = true
			}
		}
		if !found {
			t.Errorf("Server.%s follows the log (it is a sqlstore.Follower) but is not in caches()", name)
		}
	}
}
