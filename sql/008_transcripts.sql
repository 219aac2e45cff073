-- Transcripts: a chunk of speaker turns knows who spoke and when (seconds into the recording),
-- so answers can cite "Kenji Mori, 00:01:12".
ALTER TABLE chunks ADD COLUMN speakers text[] NOT NULL DEFAULT '{}';
ALTER TABLE chunks ADD COLUMN time_start real;
ALTER TABLE chunks ADD COLUMN time_end real;
-- items spoken aloud: who said it and when
ALTER TABLE items ADD COLUMN spoken_at real;
