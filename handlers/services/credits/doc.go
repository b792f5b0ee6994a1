// Package credits keeps key balances moving outside requests: the Folder
// folds the credit spend journal into the event log, and the Refiller resets
// the balances of keys with a refill schedule.
//
// A verification that spends credits lowers the key's balance and writes a
// journal row in one statement (projections.Reader.SpendCredits): the spend
// is durable the moment it is answered, and a kill -9 cannot lose it. The
// Folder turns journal rows into key.credits_spent events, one append per
// batch, and that append deletes the rows it records in its own transaction
// (projections.LiveApplier), so a spend reaches the log exactly once.
//
// Every node runs a Folder over every node's rows: a node that died leaves
// its rows behind and the others (or its own restart) fold them. Folders
// claim rows before appending so that they do not step on each other in the
// normal case; correctness never rests on the claim, only on the settlement
// in the append, which fails a fold whose rows another folder took.
package credits
