// A franz-go exactly-once ETL (kgo.GroupTransactSession, unmodified) for
// test/conformance/transactions-clients.test.ts:
//
//	txn-etl <bootstrap host:port> <prefix>
//
// Produces 600 numbered records into <prefix>-in (3 partitions), then copies them to <prefix>-out with
// transactional sessions in one consumer group: one member starts, a second joins part-way, the first
// leaves part-way. Every poll is one transaction (records produced and the group's offsets committed
// together). Prints one JSON line: what a read_committed consumer of the output read, and the errors.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const records = 600

type result struct {
	Output   []int    `json:"output"`
	Commits  int64    `json:"commits"`
	Errors   []string `json:"errors"`
	Elapsed  int64    `json:"elapsedMs"`
	Sessions int      `json:"sessions"`
}

func main() {
	bootstrap, prefix := os.Args[1], os.Args[2]
	in, out, group := prefix+"-in", prefix+"-out", prefix+"-etl"
	start := time.Now()
	res := result{}
	var mu sync.Mutex
	fail := func(format string, a ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(res.Errors) < 20 {
			res.Errors = append(res.Errors, fmt.Sprintf(format, a...))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	admin, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		panic(err)
	}
	adm := kadm.NewClient(admin)
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, in); err != nil {
		fail("create %s: %v", in, err)
	}
	if _, err := adm.CreateTopic(ctx, 3, 1, nil, out); err != nil {
		fail("create %s: %v", out, err)
	}
	for i := 0; i < records; i++ {
		r := &kgo.Record{Topic: in, Key: []byte(strconv.Itoa(i % 17)), Value: []byte(strconv.Itoa(i))}
		if err := admin.ProduceSync(ctx, r).FirstErr(); err != nil {
			fail("produce %d: %v", i, err)
			break
		}
	}
	admin.Close()

	var copied atomic.Int64
	var commits atomic.Int64
	member := func(id string, stop func() bool, wg *sync.WaitGroup) {
		defer wg.Done()
		sess, err := kgo.NewGroupTransactSession(
			kgo.SeedBrokers(bootstrap),
			kgo.TransactionalID(prefix+"-"+id),
			kgo.TransactionTimeout(20*time.Second),
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(in),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchMaxWait(200*time.Millisecond),
			kgo.MaxBufferedRecords(50),
		)
		if err != nil {
			fail("%s: session: %v", id, err)
			return
		}
		defer sess.Close()
		for !stop() && ctx.Err() == nil {
			pctx, pcancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fetches := sess.PollRecords(pctx, 50)
			pcancel()
			if fetches.IsClientClosed() {
				return
			}
			recs := fetches.Records()
			if err := sess.Begin(); err != nil {
				fail("%s: begin: %v", id, err)
				return
			}
			for _, r := range recs {
				sess.Produce(ctx, &kgo.Record{Topic: out, Key: r.Key, Value: r.Value}, func(_ *kgo.Record, err error) {
					if err != nil {
						fail("%s: produce: %v", id, err)
					}
				})
			}
			committed, err := sess.End(ctx, kgo.TryCommit)
			if err != nil {
				fail("%s: end: %v", id, err)
				continue
			}
			if committed && len(recs) > 0 {
				copied.Add(int64(len(recs)))
				commits.Add(1)
			}
		}
	}
	var wg sync.WaitGroup
	done := func() bool { return copied.Load() >= records }
	wg.Add(3)
	// The first member leaves once a third is copied; the second joins at a sixth; the third at half.
	go member("a", func() bool { return done() || copied.Load() >= records/3 }, &wg)
	for copied.Load() < records/6 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	go member("b", done, &wg)
	for copied.Load() < records/2 && ctx.Err() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	go member("c", done, &wg)
	wg.Wait()
	res.Commits = commits.Load()
	res.Sessions = 3

	reader, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.ConsumeTopics(out),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if err != nil {
		panic(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for len(res.Output) < records+10 && time.Now().Before(deadline) {
		pctx, pcancel := context.WithTimeout(ctx, time.Second)
		fetches := reader.PollFetches(pctx)
		pcancel()
		fetches.EachRecord(func(r *kgo.Record) {
			n, _ := strconv.Atoi(string(r.Value))
			res.Output = append(res.Output, n)
		})
		if len(res.Output) >= records {
			// Anything beyond would be a duplicate: look a little longer.
			deadline = minTime(deadline, time.Now().Add(time.Second))
		}
	}
	reader.Close()
	sort.Ints(res.Output)
	res.Elapsed = time.Since(start).Milliseconds()
	b, _ := json.Marshal(res)
	fmt.Println(string(b))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
