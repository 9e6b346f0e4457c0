-- The least WAL a row-copying archive must write, for bench/retention.sh's configuration
-- "bench.lower_bound=1": bench.copy_lower_bound() copies the due attempts, batch after batch as
-- archive_batch() reads them ((recorded_at, id) order from the position the last batch reached,
-- one transaction per batch, synchronous commits), into bench.archive_copy, a logged table with
-- the archive's columns and no index, no trigger, no constraint beyond NOT NULL.  Nothing is
-- deleted, locked, hashed or chained: per row, one heap insert of the archive's row and nothing
-- else (any design that copies rows into an archive table writes at least that).
-- mode 'move' instead moves the rows into lab_attempt_archive by archive_batch()'s own statement
-- minus its row locks, digest and audit event: the archive's WAL (delete, full-page images of
-- lab_attempt's pages, the archive's heap row and indexes) at a fraction of the worker's CPU.
-- mode 'digest' writes nothing: it reads and digests each batch's rows as archive_batch() does
-- (rows_sha256(row ORDER BY id)), the per-row work left to an archive of whole partitions.
-- rows_per_s > 0 paces it: after each batch it sleeps until (rows copied) / rows_per_s seconds
-- have passed since its start, so it can take the archiving's own time for the same rows.
-- bench.copy_run gets one row: started_at when it starts (committed), the rest when it ends.
CREATE TABLE bench.archive_copy (
    LIKE forgea_audit.lab_attempt INCLUDING DEFAULTS,
    archived_at timestamptz NOT NULL DEFAULT now(),
    archive_seq bigint      NOT NULL
);
-- mode 'copyidx': the same copy into a table with the archive's indexes (its primary key, UNIQUE
-- (delivery_id), (session_id, recorded_at DESC), the BRIN on archive_seq) and nothing else.
CREATE TABLE bench.archive_copy_idx (LIKE forgea_audit.lab_attempt_archive INCLUDING ALL);
CREATE TABLE bench.copy_run (started_at timestamptz NOT NULL, finished_at timestamptz, copied bigint, batches int);

CREATE PROCEDURE bench.copy_lower_bound(cutoff timestamptz, batch_size int, rows_per_s float8, mode text DEFAULT 'copy')
    LANGUAGE plpgsql AS $$
DECLARE
    pos_at timestamptz := '-infinity';
    pos_id bigint := -9223372036854775808;
    t0 timestamptz;
    n bigint;
    total bigint := 0;
    nb int := 0;
    last_at timestamptz;
    last_id bigint;
    behind float8;
BEGIN
    t0 := clock_timestamp();
    INSERT INTO bench.copy_run (started_at) VALUES (t0);
    COMMIT;
    LOOP
        IF mode = 'digest' THEN
            -- 'digest': no write at all; each batch's rows read and digested as archive_batch()
            -- digests them (rows_sha256 over canonical_row_json, in id order): what would be left
            -- per row of an archive that moves whole partitions instead of rows.
            WITH due AS (
                SELECT a.* FROM forgea_audit.lab_attempt a
                WHERE a.recorded_at < cutoff AND (a.recorded_at, a.id) >= (pos_at, pos_id)
                ORDER BY a.recorded_at, a.id LIMIT batch_size
            ), summary AS (
                SELECT count(*) AS n, forgea_audit.rows_sha256(d ORDER BY d.id) AS digest FROM due d
            )
            SELECT s.n, (SELECT d.recorded_at FROM due d ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1),
                   (SELECT d.id FROM due d ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1)
            INTO n, last_at, last_id FROM summary s;
        ELSIF mode = 'copyidx' THEN
            WITH due AS (
                SELECT a.* FROM forgea_audit.lab_attempt a
                WHERE a.recorded_at < cutoff AND (a.recorded_at, a.id) >= (pos_at, pos_id)
                ORDER BY a.recorded_at, a.id LIMIT batch_size
            ), copied AS (
                INSERT INTO bench.archive_copy_idx SELECT d.*, now(), nb FROM due d RETURNING recorded_at, id
            )
            SELECT count(*), (array_agg(c.recorded_at ORDER BY c.recorded_at DESC, c.id DESC))[1],
                   (array_agg(c.id ORDER BY c.recorded_at DESC, c.id DESC))[1]
            INTO n, last_at, last_id FROM copied c;
        ELSIF mode = 'copy' THEN
            WITH due AS (
                SELECT a.* FROM forgea_audit.lab_attempt a
                WHERE a.recorded_at < cutoff AND (a.recorded_at, a.id) >= (pos_at, pos_id)
                ORDER BY a.recorded_at, a.id LIMIT batch_size
            ), copied AS (
                INSERT INTO bench.archive_copy SELECT d.*, now(), nb FROM due d RETURNING recorded_at, id
            )
            SELECT count(*), (array_agg(c.recorded_at ORDER BY c.recorded_at DESC, c.id DESC))[1],
                   (array_agg(c.id ORDER BY c.recorded_at DESC, c.id DESC))[1]
            INTO n, last_at, last_id FROM copied c;
        ELSE
            -- 'move': archive_batch()'s statement without its row locks, digest and audit event:
            -- the rows deleted by ctid and inserted into lab_attempt_archive itself (its heap, its
            -- three B-trees and BRIN; the attempts' guard is satisfied), naming no event (0).
            WITH due AS (
                SELECT a.ctid AS tid FROM forgea_audit.lab_attempt a
                WHERE a.recorded_at < cutoff AND (a.recorded_at, a.id) >= (pos_at, pos_id)
                ORDER BY a.recorded_at, a.id LIMIT batch_size
            ), gone AS (
                DELETE FROM forgea_audit.lab_attempt a WHERE a.ctid = ANY (ARRAY(SELECT d.tid FROM due d)) RETURNING a.*
            ), stored AS (
                INSERT INTO forgea_audit.lab_attempt_archive SELECT g.*, now(), 0 FROM gone g
            )
            SELECT count(*), (array_agg(g.recorded_at ORDER BY g.recorded_at DESC, g.id DESC))[1],
                   (array_agg(g.id ORDER BY g.recorded_at DESC, g.id DESC))[1]
            INTO n, last_at, last_id FROM gone g;
        END IF;
        COMMIT;
        EXIT WHEN n = 0;
        total := total + n;
        nb := nb + 1;
        pos_at := last_at;
        pos_id := last_id + 1;
        EXIT WHEN n < batch_size;
        IF rows_per_s > 0 THEN
            behind := total / rows_per_s - extract(epoch FROM clock_timestamp() - t0);
            IF behind > 0 THEN
                PERFORM pg_sleep(behind);
            END IF;
        END IF;
    END LOOP;
    UPDATE bench.copy_run SET finished_at = clock_timestamp(), copied = total, batches = nb;
    COMMIT;
END
$$;
