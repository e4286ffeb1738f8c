// Package store keeps the VOD library in SQL (SQLite or MySQL/MariaDB, as the manager's store): videos,
// the state of their resumable uploads, the processing jobs and each video's events.
package store

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nagare-video/nagare/internal/objstore"
	"github.com/nagare-video/nagare/internal/sqldb"
)

//go:embed migrations
var migrations embed.FS

// The VOD tables carry a vod_ prefix and their own migration table, so they can share the manager's
// database.
var schema = sqldb.Migrations{FS: migrations, Dir: "migrations", Table: "vod_goose_db_version"}

// Errors; callers test them with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrConflict: the row is not in the state the change expects (another writer came first).
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database does not answer.
	ErrUnavailable = sqldb.ErrUnavailable
)

// Status of a video.
type Status int

// The values are those of nagare.vod.v1.Status.
const (
	Uploading  Status = 1
	Processing Status = 2
	Ready      Status = 3
	Failed     Status = 4
)

func (s Status) String() string {
	switch s {
	case Uploading:
		return "uploading"
	case Processing:
		return "processing"
	case Ready:
		return "ready"
	case Failed:
		return "failed"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Visibility of a video; the values are those of nagare.vod.v1.Visibility.
type Visibility int

const (
	Private  Visibility = 1
	Unlisted Visibility = 2
	Public   Visibility = 3
)

// Source of a video; the values are those of nagare.vod.v1.Source.
type Source int

const (
	FromUpload    Source = 1
	FromRecording Source = 2
)

// Rendition is one rung of a video's HLS ladder.
type Rendition struct {
	Name      string `json:"name"`
	Width     int    `json:"width"`
	Height    int    `json:"height"`
	Bandwidth int64  `json:"bandwidth"`
}

// Video is one entry of the library.
type Video struct {
	ID          string
	Owner       string
	Title       string
	Description string
	Visibility  Visibility
	Status      Status
	Failure     string
	Progress    int
	Source      Source
	Stream      string // the live stream a recording was made of
	FileName    string
	Size        int64
	SHA256      string
	Duration    time.Duration
	Width       int
	Height      int
	VideoCodec  string
	AudioCodec  string
	Renditions  []Rendition
	// Object keys: the original upload, and what processing made of it ("" = none).
	SourceKey        string
	MP4Key           string
	HLSKey           string
	PosterKey        string
	StoryboardKey    string
	StoryboardVTTKey string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Upload is the state of a video's resumable upload: what is stored of it and how to go on.
type Upload struct {
	ID          string // the video's id
	ObjectKey   string
	MultipartID string
	Size        int64
	// Committed is the number of bytes stored in Parts; HashState is the SHA-256 state after them.
	Committed      int64
	ExpectedSHA256 string
	HashState      []byte
	Parts          []objstore.Part
	ExpiresAt      time.Time
	CreatedAt      time.Time
}

// Event is a step in a video's life.
type Event struct {
	At      time.Time
	Status  Status
	Message string
}

// SQL is the VOD store.
type SQL struct {
	*sqldb.Conn
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open connects to the database (see sqldb.Open) and applies the VOD migrations.
func Open(ctx context.Context, engine, dsn string) (*SQL, error) {
	c, err := sqldb.Open(ctx, engine, dsn)
	if err != nil {
		return nil, err
	}
	c.Domain = func(err error) bool {
		return errors.Is(err, ErrNotFound) || errors.Is(err, ErrExists) || errors.Is(err, ErrConflict)
	}
	s := &SQL{Conn: c, Now: time.Now}
	if _, err := c.Migrate(ctx, schema); err != nil {
		c.Close()
		return nil, err
	}
	return s, nil
}

func (s *SQL) now() int64 { return s.Now().UnixMilli() }

const videoColumns = `id, owner, title, description, visibility, status, failure, progress, source, stream,
	file_name, size, sha256, duration_ms, width, height, video_codec, audio_codec, renditions, source_key,
	mp4_key, hls_key, poster_key, storyboard_key, storyboard_vtt, created_at, updated_at`

func videoArgs(v *Video) []any {
	r := v.Renditions
	if r == nil {
		r = []Rendition{}
	}
	rj, _ := json.Marshal(r)
	return []any{v.ID, v.Owner, v.Title, v.Description, int(v.Visibility), int(v.Status), v.Failure, v.Progress,
		int(v.Source), v.Stream, v.FileName, v.Size, v.SHA256, v.Duration.Milliseconds(), v.Width, v.Height,
		v.VideoCodec, v.AudioCodec, string(rj), v.SourceKey, v.MP4Key, v.HLSKey, v.PosterKey, v.StoryboardKey,
		v.StoryboardVTTKey, sqldb.MS(v.CreatedAt), sqldb.MS(v.UpdatedAt)}
}

func scanVideo(r sqldb.Scanner) (Video, error) {
	var v Video
	var vis, st, src int
	var durMS, created, updated int64
	var rend string
	err := r.Scan(&v.ID, &v.Owner, &v.Title, &v.Description, &vis, &st, &v.Failure, &v.Progress, &src, &v.Stream,
		&v.FileName, &v.Size, &v.SHA256, &durMS, &v.Width, &v.Height, &v.VideoCodec, &v.AudioCodec, &rend,
		&v.SourceKey, &v.MP4Key, &v.HLSKey, &v.PosterKey, &v.StoryboardKey, &v.StoryboardVTTKey, &created, &updated)
	if err != nil {
		return v, err
	}
	v.Visibility, v.Status, v.Source = Visibility(vis), Status(st), Source(src)
	v.Duration = time.Duration(durMS) * time.Millisecond
	v.CreatedAt, v.UpdatedAt = sqldb.FromMS(created), sqldb.FromMS(updated)
	if err := json.Unmarshal([]byte(rend), &v.Renditions); err != nil {
		return v, fmt.Errorf("video %s: renditions: %w", v.ID, err)
	}
	return v, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }

func insertVideo(ctx context.Context, tx *sql.Tx, v *Video) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vod_videos (`+videoColumns+`) VALUES (`+placeholders(27)+`)`, videoArgs(v)...)
	if sqldb.IsDuplicate(err) {
		return fmt.Errorf("video %s: %w", v.ID, ErrExists)
	}
	return err
}

func addEvent(ctx context.Context, tx *sql.Tx, id string, at int64, st Status, msg string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO vod_events (video_id, at, status, message) VALUES (?, ?, ?, ?)`, id, at, int(st), msg)
	return err
}

// CreateUpload records a new video in status Uploading with the state of its upload.
func (s *SQL) CreateUpload(ctx context.Context, v Video, u Upload) error {
	now := s.Now()
	v.Status, v.CreatedAt, v.UpdatedAt, u.CreatedAt = Uploading, now, now, now
	return s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := insertVideo(ctx, tx, &v); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO vod_uploads (id, object_key, multipart_id, size, committed,
			expected_sha256, hash_state, parts, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.ObjectKey, u.MultipartID, u.Size, u.Committed, u.ExpectedSHA256, u.HashState, partsJSON(u.Parts),
			sqldb.MS(u.ExpiresAt), sqldb.MS(u.CreatedAt)); err != nil {
			return err
		}
		return addEvent(ctx, tx, v.ID, sqldb.MS(now), Uploading, "upload started")
	})
}

// CreateVideo records a video that needs no upload (a recording), unless one with its id exists.
func (s *SQL) CreateVideo(ctx context.Context, v Video) error {
	now := s.Now()
	if v.CreatedAt.IsZero() {
		v.CreatedAt = now
	}
	v.UpdatedAt = now
	return s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := insertVideo(ctx, tx, &v); err != nil {
			return err
		}
		return addEvent(ctx, tx, v.ID, sqldb.MS(now), v.Status, "added to the library")
	})
}

func partsJSON(p []objstore.Part) string {
	if p == nil {
		p = []objstore.Part{}
	}
	b, _ := json.Marshal(p)
	return string(b)
}

// Video returns the video with the id.
func (s *SQL) Video(ctx context.Context, id string) (Video, error) {
	v, err := sqldb.One(ctx, s.Conn, `SELECT `+videoColumns+` FROM vod_videos WHERE id = ?`, scanVideo, id)
	if errors.Is(err, sql.ErrNoRows) {
		return v, fmt.Errorf("video %q: %w", id, ErrNotFound)
	}
	return v, err
}

// Filter selects videos; zero fields select everything. After is a cursor: the last video of the
// previous page (newest first).
type Filter struct {
	Owner      string
	Status     Status
	Visibility Visibility
	AfterTime  time.Time
	AfterID    string
	Limit      int
}

// Videos lists videos newest first.
func (s *SQL) Videos(ctx context.Context, f Filter) ([]Video, error) {
	var where []string
	var args []any
	if f.Owner != "" {
		where, args = append(where, "owner = ?"), append(args, f.Owner)
	}
	if f.Status != 0 {
		where, args = append(where, "status = ?"), append(args, int(f.Status))
	}
	if f.Visibility != 0 {
		where, args = append(where, "visibility = ?"), append(args, int(f.Visibility))
	}
	if f.AfterID != "" {
		at := sqldb.MS(f.AfterTime)
		where, args = append(where, "(created_at < ? OR (created_at = ? AND id < ?))"), append(args, at, at, f.AfterID)
	}
	q := `SELECT ` + videoColumns + ` FROM vod_videos`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY created_at DESC, id DESC"
	if f.Limit > 0 {
		q += fmt.Sprintf(" LIMIT %d", f.Limit)
	}
	return sqldb.List(ctx, s.Conn, q, scanVideo, args...)
}

// UpdateVideo changes a video under a row lock: change edits it in place; returning an error keeps it as it
// was. An event with msg is added when msg is not empty.
func (s *SQL) UpdateVideo(ctx context.Context, id, msg string, change func(*Video) error) (Video, error) {
	var out Video
	err := s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		v, err := scanVideo(tx.QueryRowContext(ctx, `SELECT `+videoColumns+` FROM vod_videos WHERE id = ?`+s.ForUpdate(), id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("video %q: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		before := v.Status
		if err := change(&v); err != nil {
			return err
		}
		v.UpdatedAt = s.Now()
		args := videoArgs(&v)
		if _, err := tx.ExecContext(ctx, `UPDATE vod_videos SET owner = ?, title = ?, description = ?, visibility = ?,
			status = ?, failure = ?, progress = ?, source = ?, stream = ?, file_name = ?, size = ?, sha256 = ?,
			duration_ms = ?, width = ?, height = ?, video_codec = ?, audio_codec = ?, renditions = ?, source_key = ?,
			mp4_key = ?, hls_key = ?, poster_key = ?, storyboard_key = ?, storyboard_vtt = ?, updated_at = ?
			WHERE id = ?`, append(append(args[1:25:25], args[26]), id)...); err != nil {
			return err
		}
		if msg != "" || v.Status != before {
			if msg == "" {
				msg = v.Status.String()
			}
			if err := addEvent(ctx, tx, id, sqldb.MS(v.UpdatedAt), v.Status, msg); err != nil {
				return err
			}
		}
		out = v
		return nil
	})
	return out, err
}

// SetProgress records processing progress (no event).
func (s *SQL) SetProgress(ctx context.Context, id string, percent int) error {
	_, err := s.Exec(ctx, `UPDATE vod_videos SET progress = ?, updated_at = ? WHERE id = ? AND status = ?`,
		percent, s.now(), id, int(Processing))
	return err
}

// DeleteVideo removes the video with its upload state, job and events.
func (s *SQL) DeleteVideo(ctx context.Context, id string) error {
	return s.Tx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, q := range []string{`DELETE FROM vod_events WHERE video_id = ?`, `DELETE FROM vod_jobs WHERE video_id = ?`,
			`DELETE FROM vod_uploads WHERE id = ?`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM vod_videos WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("video %q: %w", id, ErrNotFound)
		}
		return nil
	})
}

// Events lists a video's events, oldest first.
func (s *SQL) Events(ctx context.Context, id string) ([]Event, error) {
	return sqldb.List(ctx, s.Conn, `SELECT at, status, message FROM vod_events WHERE video_id = ? ORDER BY id`,
		func(r sqldb.Scanner) (Event, error) {
			var e Event
			var at int64
			var st int
			err := r.Scan(&at, &st, &e.Message)
			e.At, e.Status = sqldb.FromMS(at), Status(st)
			return e, err
		}, id)
}

// OwnerUsage is the bytes of every video of owner, uploads in progress counted at their full size.
func (s *SQL) OwnerUsage(ctx context.Context, owner string) (int64, error) {
	return sqldb.One(ctx, s.Conn, `SELECT COALESCE(SUM(size), 0) FROM vod_videos WHERE owner = ?`,
		func(r sqldb.Scanner) (int64, error) {
			var n int64
			err := r.Scan(&n)
			return n, err
		}, owner)
}

// StatusCounts counts the library's videos by status. It reads the whole table (status has no index): a
// scrape every few seconds is cheap up to hundreds of thousands of videos.
func (s *SQL) StatusCounts(ctx context.Context) (map[Status]int, error) {
	type count struct {
		status Status
		n      int
	}
	counts, err := sqldb.List(ctx, s.Conn, `SELECT status, COUNT(*) FROM vod_videos GROUP BY status`,
		func(r sqldb.Scanner) (count, error) {
			var c count
			err := r.Scan(&c.status, &c.n)
			return c, err
		})
	if err != nil {
		return nil, err
	}
	out := map[Status]int{}
	for _, c := range counts {
		out[c.status] = c.n
	}
	return out, nil
}
