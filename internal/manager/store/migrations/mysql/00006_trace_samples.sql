-- +goose Up
-- what the autoscaler saw of each group's role at every tick (load and its projection in percent, nodes in
-- service, the alarm and low-water thresholds), kept for the console's chart of the last minutes: the
-- manager holding a group's lease writes them, every manager reads them
CREATE TABLE trace_samples (
    id         BIGINT AUTO_INCREMENT PRIMARY KEY,
    group_name VARCHAR(128) NOT NULL,
    role       VARCHAR(32) NOT NULL,
    at         BIGINT NOT NULL,
    load_pct   DOUBLE PRECISION NOT NULL,
    predicted  DOUBLE PRECISION NOT NULL,
    nodes      INTEGER NOT NULL,
    high       DOUBLE PRECISION NOT NULL,
    low        DOUBLE PRECISION NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX trace_samples_at ON trace_samples(at);
CREATE INDEX trace_samples_group ON trace_samples(group_name);

-- +goose Down
DROP TABLE trace_samples;
