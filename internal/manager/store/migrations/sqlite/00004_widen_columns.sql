-- +goose Up
-- MySQL's columns were widened to hold what the store accepts (limits.go); SQLite does not enforce a
-- VARCHAR's length, so this version only keeps the two schemas' numbering in step.
SELECT 1;

-- +goose Down
SELECT 1;
