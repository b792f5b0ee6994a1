package sqlstore

// TailerReads is how many times t read the log.
func TailerReads(t *Tailer) int64 { return t.reads.Load() }
