-- +goose Up
-- every column holds what the store accepts (limits.go): node ids, regions, zones and versions of up to 128
-- bytes, images of up to 1024, protocols of up to 32, holders of up to 512, and JSON values of up to 4 MiB
ALTER TABLE scale_policies
    MODIFY version VARCHAR(128) NOT NULL,
    MODIFY targets MEDIUMTEXT NOT NULL;
ALTER TABLE launch_configs
    MODIFY image VARCHAR(1024) NOT NULL,
    MODIFY version VARCHAR(128) NOT NULL,
    MODIFY targets MEDIUMTEXT NOT NULL,
    MODIFY properties MEDIUMTEXT NOT NULL,
    MODIFY metadata MEDIUMTEXT NOT NULL;
ALTER TABLE node_groups
    MODIFY regions MEDIUMTEXT NOT NULL;
ALTER TABLE nodes
    MODIFY id VARCHAR(128) NOT NULL,
    MODIFY region VARCHAR(128) NOT NULL,
    MODIFY zone VARCHAR(128) NOT NULL,
    MODIFY version VARCHAR(128) NOT NULL,
    MODIFY addresses MEDIUMTEXT NOT NULL,
    MODIFY stats MEDIUMTEXT NOT NULL;
ALTER TABLE node_events
    MODIFY node_id VARCHAR(128) NOT NULL;
ALTER TABLE streams
    MODIFY node_id VARCHAR(128) NOT NULL,
    MODIFY protocol VARCHAR(32) NOT NULL;
ALTER TABLE leases
    MODIFY holder VARCHAR(512) NOT NULL;
ALTER TABLE scale_events
    MODIFY nodes MEDIUMTEXT NOT NULL,
    MODIFY manager VARCHAR(512) NOT NULL;

-- +goose Down
-- fails, rather than cut values short, when a row holds more than the old columns did
ALTER TABLE scale_events
    MODIFY nodes TEXT NOT NULL,
    MODIFY manager VARCHAR(190) NOT NULL;
ALTER TABLE leases
    MODIFY holder VARCHAR(190) NOT NULL;
ALTER TABLE streams
    MODIFY node_id VARCHAR(64) NOT NULL,
    MODIFY protocol VARCHAR(16) NOT NULL;
ALTER TABLE node_events
    MODIFY node_id VARCHAR(64) NOT NULL;
ALTER TABLE nodes
    MODIFY id VARCHAR(64) NOT NULL,
    MODIFY region VARCHAR(64) NOT NULL,
    MODIFY zone VARCHAR(64) NOT NULL,
    MODIFY version VARCHAR(64) NOT NULL,
    MODIFY addresses TEXT NOT NULL,
    MODIFY stats TEXT NOT NULL;
ALTER TABLE node_groups
    MODIFY regions TEXT NOT NULL;
ALTER TABLE launch_configs
    MODIFY image VARCHAR(255) NOT NULL,
    MODIFY version VARCHAR(64) NOT NULL,
    MODIFY targets TEXT NOT NULL,
    MODIFY properties TEXT NOT NULL,
    MODIFY metadata TEXT NOT NULL;
ALTER TABLE scale_policies
    MODIFY version VARCHAR(64) NOT NULL,
    MODIFY targets TEXT NOT NULL;
