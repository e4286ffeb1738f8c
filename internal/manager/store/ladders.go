package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
)

// ---- provisioned ladders ----

// PutLadder provisions (or replaces) the ladder of a stream. The API validates the rungs.
func (s *SQL) PutLadder(ctx context.Context, l Ladder) error {
	body := mustJSON(ladderBody{Rungs: l.Rungs, AudioBitrate: l.AudioBitrate})
	if err := checkFields(field{"stream", l.Stream, MaxStreamName}, field{"rungs", body, MaxJSON}); err != nil {
		return fmt.Errorf("ladder: %w", err)
	}
	return s.tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM ladders WHERE stream = ?`, l.Stream); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ladders (stream, body, updated_at) VALUES (?,?,?)`,
			l.Stream, body, ms(l.UpdatedAt))
		return err
	})
}

// GetLadder returns the ladder provisioned for a stream.
func (s *SQL) GetLadder(ctx context.Context, stream string) (Ladder, error) {
	l, err := one(ctx, s, `SELECT stream, body, updated_at FROM ladders WHERE stream = ?`, scanLadder, stream)
	if errors.Is(err, sql.ErrNoRows) {
		return l, notFound("ladder of stream", stream)
	}
	return l, err
}

// ListLadders returns every provisioned ladder, ordered by stream.
func (s *SQL) ListLadders(ctx context.Context) ([]Ladder, error) {
	return list(ctx, s, `SELECT stream, body, updated_at FROM ladders ORDER BY stream`, scanLadder)
}

// DeleteLadder forgets a stream's ladder: the origin's own applies again.
func (s *SQL) DeleteLadder(ctx context.Context, stream string) error {
	res, err := s.exec(ctx, `DELETE FROM ladders WHERE stream = ?`, stream)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return notFound("ladder of stream", stream)
	}
	return nil
}

// ladderBody is the JSON kept in ladders.body.
type ladderBody struct {
	Rungs        []LadderRung `json:"rungs"`
	AudioBitrate int          `json:"audioBitrate,omitempty"`
}

func scanLadder(r scanner) (Ladder, error) {
	var l Ladder
	var body string
	var updated int64
	if err := r.Scan(&l.Stream, &body, &updated); err != nil {
		return l, err
	}
	var b ladderBody
	if err := json.Unmarshal([]byte(body), &b); err != nil {
		return l, fmt.Errorf("ladder of %q: stored body: %w", l.Stream, err)
	}
	l.Rungs, l.AudioBitrate, l.UpdatedAt = b.Rungs, b.AudioBitrate, fromMS(updated)
	return l, nil
}
