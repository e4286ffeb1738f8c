package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/nodemodel"
)

const nodeCols = `id, group_name, role, state, region, zone, version, capacity, addresses, parent, stats, last_report, created_at, updated_at`

func scanNode(r scanner) (Node, error) {
	var n Node
	var addrs, stats string
	var last, created, updated int64
	if err := r.Scan(&n.ID, &n.Group, &n.Role, &n.State, &n.Region, &n.Zone, &n.Version, &n.Capacity,
		&addrs, &n.Parent, &stats, &last, &created, &updated); err != nil {
		return n, err
	}
	if err := json.Unmarshal([]byte(addrs), &n.Addresses); err != nil {
		return n, fmt.Errorf("node %q addresses: %w", n.ID, err)
	}
	if err := json.Unmarshal([]byte(stats), &n.Stats); err != nil {
		return n, fmt.Errorf("node %q stats: %w", n.ID, err)
	}
	n.LastReport, n.CreatedAt, n.UpdatedAt = fromMS(last), fromMS(created), fromMS(updated)
	return n, nil
}

// CreateNode stores a new node and records its first state as an event.
func (s *SQL) CreateNode(ctx context.Context, n Node, cause string) (Node, error) {
	now := s.Now().UTC().Truncate(time.Millisecond)
	n.CreatedAt, n.UpdatedAt = now, now
	if n.State == "" {
		n.State = nodemodel.StatePending
	}
	addrs, stats := mustJSON(n.Addresses), mustJSON(n.Stats)
	if err := checkNode(n, addrs, stats); err != nil {
		return n, fmt.Errorf("node %q: %w", clip(n.ID), err)
	}
	if err := checkFields(field{"cause", cause, MaxCause}); err != nil {
		return n, fmt.Errorf("node %q: %w", clip(n.ID), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO nodes (`+nodeCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			n.ID, n.Group, n.Role, n.State, n.Region, n.Zone, n.Version, n.Capacity, addrs, n.Parent,
			stats, ms(n.LastReport), ms(now), ms(now))
		if isDuplicate(err) {
			return fmt.Errorf("node %q: %w", n.ID, ErrExists)
		}
		if err != nil {
			return fmt.Errorf("creating node %q: %w", n.ID, err)
		}
		return insertEvent(ctx, tx, NodeEvent{NodeID: n.ID, From: "", To: n.State, Cause: cause, At: now})
	})
	return n, err
}

func insertEvent(ctx context.Context, tx *sql.Tx, e NodeEvent) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO node_events (node_id, from_state, to_state, cause, at) VALUES (?,?,?,?,?)`,
		e.NodeID, e.From, e.To, e.Cause, ms(e.At))
	return err
}

// GetNode returns a node by id.
func (s *SQL) GetNode(ctx context.Context, id string) (Node, error) {
	n, err := one(ctx, s, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`, scanNode, id)
	if errors.Is(err, sql.ErrNoRows) {
		return n, notFound("node", id)
	}
	return n, err
}

// NodeFilter selects nodes.
type NodeFilter struct {
	Group             string // "" for every group
	IncludeTerminated bool
}

// ListNodes returns nodes ordered by id.
func (s *SQL) ListNodes(ctx context.Context, f NodeFilter) ([]Node, error) {
	q := `SELECT ` + nodeCols + ` FROM nodes WHERE 1=1`
	var args []any
	if f.Group != "" {
		q += ` AND group_name = ?`
		args = append(args, f.Group)
	}
	if !f.IncludeTerminated {
		q += ` AND state <> ?`
		args = append(args, nodemodel.StateTerminated)
	}
	return list(ctx, s, q+` ORDER BY id`, scanNode, args...)
}

// UpdateNodeInfo saves what a node says of itself at registration: addresses, version, region, zone.
func (s *SQL) UpdateNodeInfo(ctx context.Context, n Node) error {
	addrs := mustJSON(n.Addresses)
	if err := checkFields(field{"addresses", addrs, MaxJSON}, field{"version", n.Version, MaxVersion},
		field{"region", n.Region, MaxRegion}, field{"zone", n.Zone, MaxZone}); err != nil {
		return fmt.Errorf("node %q: %w", clip(n.ID), err)
	}
	res, err := s.exec(ctx, `UPDATE nodes SET addresses=?, version=?, region=?, zone=?, updated_at=? WHERE id=?`,
		addrs, n.Version, n.Region, n.Zone, ms(s.Now()), n.ID)
	return affected(res, err, "node", n.ID)
}

// SetParent records the parent a node was assigned.
func (s *SQL) SetParent(ctx context.Context, id, parent string) error {
	if err := checkFields(field{"parent", parent, MaxParent}); err != nil {
		return fmt.Errorf("node %q: %w", clip(id), err)
	}
	res, err := s.exec(ctx, `UPDATE nodes SET parent=?, updated_at=? WHERE id=?`, parent, ms(s.Now()), id)
	return affected(res, err, "node", id)
}

// SaveReport stores a node's latest load report.
func (s *SQL) SaveReport(ctx context.Context, id string, st NodeStats, at time.Time) error {
	rep, err := EncodeReport(id, st, at)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, `UPDATE nodes SET stats=?, last_report=? WHERE id=?`, rep.stats, ms(at), id)
	return affected(res, err, "node", id)
}

// Report is a node's load report encoded for the store (EncodeReport), to be saved with others by
// SaveReports.
type Report struct {
	ID    string
	At    time.Time
	stats string
}

// EncodeReport checks and encodes a node's load report: a report the store would refuse is refused here,
// when it arrives, rather than when a batch of reports is written.
func EncodeReport(id string, st NodeStats, at time.Time) (Report, error) {
	stats := mustJSON(st)
	if err := checkFields(field{"stats", stats, MaxJSON}); err != nil {
		return Report{}, fmt.Errorf("node %q: %w", clip(id), err)
	}
	return Report{ID: id, At: at, stats: stats}, nil
}

// Batches of SaveReports: one statement carries at most this many reports, or this many bytes of them
// (well under MySQL's max_allowed_packet and SQLite's limit on bound parameters).
const (
	reportBatchRows  = 250
	reportBatchBytes = 1 << 20
)

// SaveReports stores many nodes' latest load reports with one statement per batch of them, instead of a
// statement (and a round trip) for each. The reports of nodes the store does not have are skipped.
func (s *SQL) SaveReports(ctx context.Context, reports []Report) error {
	for len(reports) > 0 {
		n, size := 0, 0
		for n < len(reports) && n < reportBatchRows && (n == 0 || size+len(reports[n].stats) <= reportBatchBytes) {
			size += len(reports[n].stats)
			n++
		}
		if err := s.saveReports(ctx, reports[:n]); err != nil {
			return err
		}
		reports = reports[n:]
	}
	return nil
}

func (s *SQL) saveReports(ctx context.Context, reports []Report) error {
	var q strings.Builder
	args := make([]any, 0, 5*len(reports))
	q.WriteString(`UPDATE nodes SET stats = CASE id`)
	for _, r := range reports {
		q.WriteString(` WHEN ? THEN ?`)
		args = append(args, r.ID, r.stats)
	}
	q.WriteString(` END, last_report = CASE id`)
	for _, r := range reports {
		q.WriteString(` WHEN ? THEN ?`)
		args = append(args, r.ID, ms(r.At))
	}
	q.WriteString(` END WHERE id IN (?`)
	q.WriteString(strings.Repeat(`,?`, len(reports)-1))
	q.WriteString(`)`)
	for _, r := range reports {
		args = append(args, r.ID)
	}
	if _, err := s.exec(ctx, q.String(), args...); err != nil {
		return fmt.Errorf("saving %d load reports: %w", len(reports), err)
	}
	return nil
}

func affected(res sql.Result, err error, kind, name string) error {
	if err != nil {
		return fmt.Errorf("updating %s %q: %w", kind, name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound(kind, name)
	}
	return nil
}

// Transition moves a node to state to, if it is in one of the states from (any state if from is empty),
// and records the event. It returns the node as it is after the transition.
func (s *SQL) Transition(ctx context.Context, id string, to nodemodel.State, cause string, from ...nodemodel.State) (Node, error) {
	var n Node
	now := s.Now().UTC().Truncate(time.Millisecond)
	if err := checkFields(field{"state", string(to), MaxState}, field{"cause", cause, MaxCause}); err != nil {
		return n, fmt.Errorf("node %q: %w", clip(id), err)
	}
	err := s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = scanNode(tx.QueryRowContext(ctx, `SELECT `+nodeCols+` FROM nodes WHERE id = ?`+s.forUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("node", id)
		}
		if err != nil {
			return err
		}
		if len(from) > 0 && !slices.Contains(from, n.State) {
			return fmt.Errorf("node %q is %s, not %v: %w", id, n.State, from, ErrStateConflict)
		}
		if n.State == to {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE nodes SET state=?, updated_at=? WHERE id=?`, to, ms(now), id); err != nil {
			return err
		}
		if err := insertEvent(ctx, tx, NodeEvent{NodeID: id, From: n.State, To: to, Cause: cause, At: now}); err != nil {
			return err
		}
		if to == nodemodel.StateTerminated {
			if _, err := tx.ExecContext(ctx, `DELETE FROM streams WHERE node_id = ?`, id); err != nil {
				return err
			}
		}
		n.State, n.UpdatedAt = to, now
		return nil
	})
	return n, err
}

// NodeEvents returns the lifecycle events of a node ("" for all nodes), oldest first, at most limit.
func (s *SQL) NodeEvents(ctx context.Context, nodeID string, limit int) ([]NodeEvent, error) {
	q := `SELECT id, node_id, from_state, to_state, cause, at FROM node_events`
	var args []any
	if nodeID != "" {
		q += ` WHERE node_id = ?`
		args = append(args, nodeID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit)
	evs, err := list(ctx, s, q, func(r scanner) (NodeEvent, error) {
		var e NodeEvent
		var at int64
		err := r.Scan(&e.ID, &e.NodeID, &e.From, &e.To, &e.Cause, &at)
		e.At = fromMS(at)
		return e, err
	}, args...)
	slices.Reverse(evs)
	return evs, err
}

// ---- streams ----

// PutStream records that a node carries a stream, replacing any earlier record of that name.
func (s *SQL) PutStream(ctx context.Context, r StreamRecord) error {
	if err := checkFields(field{"name", r.Name, MaxStreamName}, field{"nodeId", r.NodeID, MaxNodeID},
		field{"protocol", r.Protocol, MaxProtocol}); err != nil {
		return fmt.Errorf("stream %q: %w", clip(r.Name), err)
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM streams WHERE name = ?`, r.Name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO streams (name, node_id, protocol, started_at) VALUES (?,?,?,?)`,
			r.Name, r.NodeID, r.Protocol, ms(r.StartedAt))
		return err
	})
}

// DeleteStream forgets a stream if nodeID still carries it (a late unpublish from an old origin does
// not remove the record of the new one).
func (s *SQL) DeleteStream(ctx context.Context, name, nodeID string) error {
	_, err := s.exec(ctx, `DELETE FROM streams WHERE name = ? AND node_id = ?`, name, nodeID)
	return err
}

// ListStreams returns every live stream ordered by name.
func (s *SQL) ListStreams(ctx context.Context) ([]StreamRecord, error) {
	return list(ctx, s, `SELECT name, node_id, protocol, started_at FROM streams ORDER BY name`, scanStream)
}

// GetStream returns the record of a live stream.
func (s *SQL) GetStream(ctx context.Context, name string) (StreamRecord, error) {
	r, err := one(ctx, s, `SELECT name, node_id, protocol, started_at FROM streams WHERE name = ?`, scanStream, name)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("stream", name)
	}
	return r, err
}

func scanStream(r scanner) (StreamRecord, error) {
	var s StreamRecord
	var started int64
	err := r.Scan(&s.Name, &s.NodeID, &s.Protocol, &started)
	s.StartedAt = fromMS(started)
	return s, err
}
