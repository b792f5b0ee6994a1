// Package apicache keeps the node-local copy of live APIs that
// keys.createKey reads instead of the apis table.
package apicache

import (
	"context"
	"encoding/json"
	"strings"
	"sync"

	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/projections"
)

// Reader is the read model the cache fills from.
type Reader interface {
	APIForCache(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error)
}

// Cache holds live APIs by ID. It follows the log (Observe, registered with
// sqlstore.Tailer.Follow): the writing node drops an API synchronously at
// commit, so its next createKey already sees a deletion; other nodes drop it
// when their tailer reads the event.
//
// Only live APIs are kept. A miss always reads the table, so an API another
// node has just created is found at once, and a deleted one is never served
// from here once its api.deleted has been observed.
type Cache struct {
	reader Reader

	mu   sync.RWMutex
	apis map[string]projections.APIRow
	// gen changes with every invalidation, so a fill that raced one does
	// not store what it read before the change.
	gen uint64
}

// New builds an empty cache; the server makes it follow the log.
func New(r Reader) *Cache {
	return &Cache{reader: r, apis: map[string]projections.APIRow{}}
}

// API returns the live API apiID of workspaceID, or events.ErrNotFound for
// a missing, deleted or foreign one, like projections.Reader.API.
func (c *Cache) API(ctx context.Context, workspaceID, apiID string) (projections.APIRow, error) {
	c.mu.RLock()
	row, ok := c.apis[apiID]
	gen := c.gen
	c.mu.RUnlock()
	if ok {
		if row.WorkspaceID != workspaceID {
			return projections.APIRow{}, events.ErrNotFound
		}
		return row, nil
	}
	// The primary, not a replica: a fill right after an invalidation must
	// not bring back the row as it was before the event.
	row, err := c.reader.APIForCache(ctx, workspaceID, apiID)
	if err != nil {
		return projections.APIRow{}, err
	}
	c.mu.Lock()
	if c.gen == gen {
		c.apis[apiID] = row
	}
	c.mu.Unlock()
	return row, nil
}

// Observe drops the API an api.* event changes (a log follower).
func (c *Cache) Observe(rec events.Recorded) {
	if !strings.HasPrefix(rec.Name, "api.") {
		return
	}
	var t struct {
		APIID string `json:"apiId"`
	}
	err := json.Unmarshal(rec.Payload, &t)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if err != nil || t.APIID == "" {
		// A shape this build does not know: forget everything rather than
		// serve what it may have changed.
		c.apis = map[string]projections.APIRow{}
		return
	}
	delete(c.apis, t.APIID)
}
