-- +goose Up
-- a group whose deletion was asked for: its nodes are being terminated, and it goes with the last of them
ALTER TABLE node_groups ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE node_groups DROP COLUMN deleting;
