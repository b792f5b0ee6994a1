// Package outbox publishes appended events through watermill in the same
// PostgreSQL transaction that appends them (the transactional outbox), and
// runs the forwarder that relays them to a Redis stream.
//
// Exactly-once into the outbox (the row commits or rolls back with the
// events), at-least-once out of it: the forwarder's consumer group only
// advances after Redis accepted a message, and consumers deduplicate by the
// message UUID, which is the event's log position.
package outbox

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"

	"github.com/ThreeDotsLabs/watermill"
	wmsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/components/forwarder"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/keyline/keyline/configs"
	"github.com/keyline/keyline/events"
	"github.com/keyline/keyline/infra/redisstream"
	"github.com/keyline/keyline/infra/sqlstore"
)

const (
	// EventsTopic is the outbox topic when nothing relays it: the SQL table
	// is then itself the durable stream downstream consumers subscribe to.
	EventsTopic = "keyline_events"
	// ForwarderTopic holds enveloped messages waiting for the Redis relay.
	ForwarderTopic = "keyline_outbox"
	// forwarderGroup is shared by every node's forwarder: watermill-sql locks
	// the group's offset row, so only one node relays at a time.
	forwarderGroup = "keyline_forwarder"
)

// Message is the wire form of an event on the outbox and the Redis stream.
type Message struct {
	ID            string          `json:"id"`
	Position      int64           `json:"position"`
	StreamID      string          `json:"streamId"`
	StreamVersion int64           `json:"streamVersion"`
	Name          string          `json:"name"`
	Version       int             `json:"version"`
	Payload       json.RawMessage `json:"payload"`
	Meta          events.Metadata `json:"meta"`
	OccurredAt    int64           `json:"occurredAt"`
}

// EventID is the stable, unique ID of the event at position.
func EventID(position int64) string { return "evt_" + strconv.FormatInt(position, 10) }

// ToMessage converts a recorded event into a watermill message.
func ToMessage(r events.Recorded) (*message.Message, error) {
	body, err := json.Marshal(Message{ID: EventID(r.Position), Position: r.Position, StreamID: r.StreamID,
		StreamVersion: r.StreamVersion, Name: r.Name, Version: r.Version, Payload: r.Payload, Meta: r.Meta,
		OccurredAt: r.OccurredAt.UnixMilli()})
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(EventID(r.Position), body)
	msg.Metadata.Set("name", r.Name)
	msg.Metadata.Set("version", strconv.Itoa(r.Version))
	return msg, nil
}

// Postgres is the watermill-sql outbox.
type Postgres struct {
	relayToRedis bool
	logger       watermill.LoggerAdapter
}

// NewPostgres creates the outbox tables (they cannot be created inside the
// append transaction) and returns the outbox. With relayToRedis the messages
// are enveloped for the forwarder; otherwise they land on EventsTopic.
func NewPostgres(ctx context.Context, db *bun.DB, relayToRedis bool, logger *slog.Logger) (*Postgres, error) {
	wl := redisstream.NewLogger(logger)
	sub, err := newSubscriber(db, forwarderGroup, wl)
	if err != nil {
		return nil, err
	}
	for _, topic := range []string{EventsTopic, ForwarderTopic} {
		if err := sub.SubscribeInitialize(topic); err != nil {
			return nil, fmt.Errorf("creating outbox tables for %s: %w", topic, err)
		}
	}
	return &Postgres{relayToRedis: relayToRedis, logger: wl}, nil
}

// Publish writes recs to the outbox through the append's transaction.
func (o *Postgres) Publish(ctx context.Context, tx bun.Tx, recs []events.Recorded) error {
	pub, err := wmsql.NewPublisher(inlineExecutor{tx.Tx}, wmsql.PublisherConfig{
		SchemaAdapter: wmsql.DefaultPostgreSQLSchema{},
	}, o.logger)
	if err != nil {
		return fmt.Errorf("creating outbox publisher: %w", err)
	}
	var publisher message.Publisher = pub
	if o.relayToRedis {
		publisher = forwarder.NewPublisher(pub, forwarder.PublisherConfig{ForwarderTopic: ForwarderTopic})
	}
	msgs := make([]*message.Message, 0, len(recs))
	for _, r := range recs {
		msg, err := ToMessage(r)
		if err != nil {
			return fmt.Errorf("encoding event %d: %w", r.Position, err)
		}
		msg.SetContext(ctx)
		msgs = append(msgs, msg)
	}
	return publisher.Publish(EventsTopic, msgs...)
}

func newSubscriber(db *bun.DB, group string, logger watermill.LoggerAdapter) (*wmsql.Subscriber, error) {
	sub, err := wmsql.NewSubscriber(wmsql.BeginnerFromStdSQL(db.DB), wmsql.SubscriberConfig{
		ConsumerGroup:  group,
		SchemaAdapter:  wmsql.DefaultPostgreSQLSchema{},
		OffsetsAdapter: wmsql.DefaultPostgreSQLOffsetsAdapter{},
		PollInterval:   100e6, // 100 ms: the relay's contribution to cross-node latency
	}, logger)
	if err != nil {
		return nil, fmt.Errorf("creating outbox subscriber: %w", err)
	}
	return sub, nil
}

// Forwarder relays the outbox to a Redis stream.
type Forwarder struct {
	fwd *forwarder.Forwarder
}

// NewForwarder builds the relay from the outbox in db to out.
func NewForwarder(db *bun.DB, out message.Publisher, logger *slog.Logger) (*Forwarder, error) {
	wl := redisstream.NewLogger(logger)
	sub, err := newSubscriber(db, forwarderGroup, wl)
	if err != nil {
		return nil, err
	}
	fwd, err := forwarder.NewForwarder(sub, out, wl, forwarder.Config{ForwarderTopic: ForwarderTopic})
	if err != nil {
		return nil, fmt.Errorf("creating forwarder: %w", err)
	}
	return &Forwarder{fwd: fwd}, nil
}

// Run relays until ctx ends.
func (f *Forwarder) Run(ctx context.Context) error {
	go func() {
		<-ctx.Done()
		_ = f.fwd.Close()
	}()
	return f.fwd.Run(ctx)
}

// ForKind returns the outbox for the configured database: the watermill-sql
// outbox on PostgreSQL, none on SQLite, where the events table itself is the
// only log and the tailer fans it out in-process.
func ForKind(ctx context.Context, db *sqlstore.DB, cfg *configs.Config, logger *slog.Logger) (sqlstore.Outbox, error) {
	if db.Kind != configs.KindPostgres {
		return nil, nil
	}
	return NewPostgres(ctx, db.Primary, cfg.Redis != nil && cfg.Redis.URL != "", logger)
}

// ForwarderFor returns the relay to Redis when the database is PostgreSQL and
// Redis is configured, and nil otherwise.
func ForwarderFor(ctx context.Context, db *sqlstore.DB, cfg *configs.Config, logger *slog.Logger) (*Forwarder, func(), error) {
	if db.Kind != configs.KindPostgres || cfg.Redis == nil || cfg.Redis.URL == "" {
		return nil, func() {}, nil
	}
	pub, err := redisstream.NewPublisher(ctx, cfg.Redis.URL, redisstream.NewLogger(logger))
	if err != nil {
		return nil, nil, err
	}
	fwd, err := NewForwarder(db.Primary, &renamingPublisher{pub, cfg.Redis.Stream(redisstream.EventsTopic)}, logger)
	if err != nil {
		_ = pub.Close()
		return nil, nil, err
	}
	return fwd, func() { _ = pub.Close() }, nil
}

// renamingPublisher sends the outbox topic to the Redis stream's name, so
// the SQL table and the stream can each follow their own naming rules.
type renamingPublisher struct {
	message.Publisher
	topic string
}

func (p *renamingPublisher) Publish(_ string, msgs ...*message.Message) error {
	return p.Publisher.Publish(p.topic, msgs...)
}
