// Command franz-client drives the unmodified franz-go client (kgo + kadm) through the client-matrix
// scenario against a broker and prints one JSON result; it exits 1 on any mismatch.
//
//	franz-client <bootstrap host:port> <scenario: roundtrip | quick | codecs>
//
// The scenario (the same in ../python/matrix_*.py): create a 3-partition topic through the admin API;
// for each codec produce keyed records with headers (acks=all, idempotent); consume them back in a
// group of two members that commit; check every record against what the producer was told (partition,
// offset, key, value, headers) and the order of each member's stream per partition; describe the group
// and its committed offsets; delete the topic.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	partitions = 3
	members    = 2
)

var codecs = []struct {
	name  string
	codec kgo.CompressionCodec
}{
	{"none", kgo.NoCompression()},
	{"gzip", kgo.GzipCompression()},
	{"snappy", kgo.SnappyCompression()},
	{"lz4", kgo.Lz4Compression()},
	{"zstd", kgo.ZstdCompression()},
}

type header struct{ key, value string }

type sent struct {
	key, value string
	headers    []header
	timestamp  time.Time // as the producer was told on acknowledgement
}

type where struct {
	partition int32
	offset    int64
}

type result struct {
	mu        sync.Mutex
	Client    string           `json:"client"`
	Scenario  string           `json:"scenario"`
	Bootstrap string           `json:"bootstrap"`
	Topic     string           `json:"topic"`
	OK        bool             `json:"ok"`
	Produced  map[string]int   `json:"produced"`
	Consumed  int              `json:"consumed"`
	Redeliver int              `json:"redelivered"`
	Group     map[string]any   `json:"group"`
	Committed map[string]int64 `json:"committed"`
	EndOffset map[string]int64 `json:"endOffsets"`
	Errors    []string         `json:"errors"`
	ElapsedMs int64            `json:"elapsedMs"`
	PhasesMs  map[string]int64 `json:"phasesMs"`
	lastMark  time.Time
}

// mark records how long the phase that just ended took (to compare the brokers' latencies).
func (r *result) mark(phase string) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.PhasesMs[phase] = now.Sub(r.lastMark).Milliseconds()
	r.lastMark = now
}

func (r *result) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Bounded: a broken broker must not flood the report.
	if len(r.Errors) < 50 {
		r.Errors = append(r.Errors, fmt.Sprintf(format, args...))
	}
}

// opts are the options every client of the run shares: the seed broker and, with MATRIX_DEBUG=1,
// franz-go's own debug log on stderr (to compare what the client saw from two brokers).
func opts(bootstrap string, more ...kgo.Opt) []kgo.Opt {
	o := []kgo.Opt{kgo.SeedBrokers(bootstrap)}
	if os.Getenv("MATRIX_DEBUG") == "1" {
		o = append(o, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, nil)))
	}
	return append(o, more...)
}

func record(codec string, i int) sent {
	return sent{
		key:   "key-" + strconv.Itoa(i%50),
		value: fmt.Sprintf("%s|%d|%s", codec, i, "compressible value text, compressible value text, compressible"),
		headers: []header{
			{"seq", strconv.Itoa(i)},
			{"codec", codec},
			{"empty", ""},
		},
	}
}

func main() {
	// franz-client <bootstrap> failover <topic> <count>: see failover.go.
	if len(os.Args) == 5 && os.Args[2] == "failover" {
		count, err := strconv.Atoi(os.Args[4])
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: franz-client <bootstrap> failover <topic> <count>")
			os.Exit(2)
		}
		failover(os.Args[1], os.Args[3], count)
		return
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: franz-client <bootstrap host:port> <roundtrip|quick|codecs>")
		os.Exit(2)
	}
	bootstrap, scenario := os.Args[1], os.Args[2]
	// codecs: only create and produce (200 a codec), for the test to read the stored batches' codecs.
	perCodec := map[string]int{"roundtrip": 3000, "quick": 300, "codecs": 200}[scenario]
	if perCodec == 0 {
		fmt.Fprintf(os.Stderr, "unknown scenario %q\n", scenario)
		os.Exit(2)
	}
	start := time.Now()
	res := &result{
		Client: "franz-go", Scenario: scenario, Bootstrap: bootstrap,
		Topic:    fmt.Sprintf("matrix-franz-go-%d", time.Now().UnixNano()),
		Produced: map[string]int{}, Committed: map[string]int64{}, EndOffset: map[string]int64{},
		Group: map[string]any{}, Errors: []string{}, PhasesMs: map[string]int64{}, lastMark: start,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	run(ctx, res, perCodec)
	res.ElapsedMs = time.Since(start).Milliseconds()
	res.OK = len(res.Errors) == 0
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
	if !res.OK {
		os.Exit(1)
	}
}

func run(ctx context.Context, res *result, perCodec int) {
	adminClient, err := kgo.NewClient(opts(res.Bootstrap)...)
	if err != nil {
		res.fail("admin client: %v", err)
		return
	}
	defer adminClient.Close()
	adm := kadm.NewClient(adminClient)
	topic := res.Topic

	created, err := adm.CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = created.Err
	}
	if err != nil {
		res.fail("create topic: %v", err)
		return
	}
	if created.NumPartitions != partitions {
		res.fail("create topic answered %d partitions", created.NumPartitions)
	}

	describeTopic(ctx, res, adm)
	res.mark("createTopic")

	expected := produce(ctx, res, perCodec)
	res.mark("produce")
	if len(res.Errors) > 0 || res.Scenario == "codecs" {
		return
	}
	consume(ctx, res, adm, expected)
	deleteGroup(ctx, res, adm, res.Topic+"-group")
	res.mark("deleteGroup")
	deleted, err := adm.DeleteTopics(ctx, topic)
	if err == nil {
		if d, ok := deleted[topic]; !ok {
			res.fail("delete topic: no answer for the topic")
		} else if d.Err != nil {
			res.fail("delete topic: %v", d.Err)
		}
	} else {
		res.fail("delete topic: %v", err)
	}
	defer res.mark("deleteTopic")
	// Deletion may take effect a little later (Kafka's controller): poll a bounded while.
	for attempt := 0; ; attempt++ {
		topics, err := adm.ListTopics(ctx)
		if err != nil {
			res.fail("list topics after delete: %v", err)
			break
		}
		if !topics.Has(topic) {
			break
		}
		if attempt >= 50 {
			res.fail("topic still listed after delete")
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// describeTopic checks the new topic through the admin API: 3 partitions, each with a leader.
func describeTopic(ctx context.Context, res *result, adm *kadm.Client) {
	topics, err := adm.ListTopics(ctx, res.Topic)
	if err != nil {
		res.fail("describe topic: %v", err)
		return
	}
	t, ok := topics[res.Topic]
	if !ok || t.Err != nil {
		res.fail("describe topic: missing or %v", t.Err)
		return
	}
	if len(t.Partitions) != partitions {
		res.fail("describe topic: %d partitions", len(t.Partitions))
	}
	for _, p := range t.Partitions {
		if p.Err != nil || p.Leader < 0 || len(p.Replicas) != 1 || len(p.ISR) != 1 {
			res.fail("describe topic: partition %d leader %d replicas %v isr %v err %v", p.Partition, p.Leader, p.Replicas, p.ISR, p.Err)
		}
	}
}

// deleteGroup runs after the members left: the group is listed as Empty, then deleted and gone.
func deleteGroup(ctx context.Context, res *result, adm *kadm.Client, group string) {
	state := ""
	for attempt := 0; attempt < 50; attempt++ {
		listed, err := adm.ListGroups(ctx)
		if err != nil {
			res.fail("list groups: %v", err)
			return
		}
		g, ok := listed[group]
		state = g.State
		if ok && g.State == "Empty" && g.ProtocolType == "consumer" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	res.Group["stateAfterLeave"] = state
	if state != "Empty" {
		res.fail("group after the members left: listed as %q, not Empty", state)
	}
	deleted, err := adm.DeleteGroups(ctx, group)
	if err == nil {
		if d, ok := deleted[group]; !ok {
			err = fmt.Errorf("no answer for the group")
		} else {
			err = d.Err
		}
	}
	if err != nil {
		res.fail("delete group: %v", err)
		return
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		res.fail("list groups after delete: %v", err)
	} else if _, ok := listed[group]; ok {
		res.fail("group still listed after delete")
	}
}

// produce sends every codec's records with its own idempotent acks=all producer and returns what
// the broker acknowledged, by partition and offset.
func produce(ctx context.Context, res *result, perCodec int) map[where]sent {
	expected := map[where]sent{}
	var mu sync.Mutex
	for _, c := range codecs {
		cl, err := kgo.NewClient(opts(res.Bootstrap,
			kgo.DefaultProduceTopic(res.Topic),
			kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is franz-go's default with acks=all
			kgo.ProducerBatchCompression(c.codec),
			kgo.ProducerLinger(5*time.Millisecond),
			kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)),
		)...)
		if err != nil {
			res.fail("producer %s: %v", c.name, err)
			return nil
		}
		acked := 0
		for i := range perCodec {
			s := record(c.name, i)
			r := &kgo.Record{Key: []byte(s.key), Value: []byte(s.value)}
			for _, h := range s.headers {
				r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.key, Value: []byte(h.value)})
			}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					res.fail("produce %s #%d: %v", c.name, i, err)
					return
				}
				w := where{r.Partition, r.Offset}
				if _, dup := expected[w]; dup {
					res.fail("produce %s #%d: offset %d/%d acknowledged twice", c.name, i, r.Partition, r.Offset)
				}
				s.timestamp = r.Timestamp
				expected[w] = s
				acked++
			})
		}
		if err := cl.Flush(ctx); err != nil {
			res.fail("flush %s: %v", c.name, err)
		}
		cl.Close()
		mu.Lock()
		res.Produced[c.name] = acked
		mu.Unlock()
	}
	return expected
}

type member struct {
	cl   *kgo.Client
	last map[int32]int64 // last offset this member saw per partition while it owned it
}

// consume reads everything back with two group members that commit after each poll; rebalances only
// happen between polls (BlockRebalanceOnPoll), after the commit.
func consume(ctx context.Context, res *result, adm *kadm.Client, expected map[where]sent) {
	group := res.Topic + "-group"
	var mu sync.Mutex
	seen := map[where]bool{}
	ms := make([]*member, members)
	for n := range ms {
		m := &member{last: map[int32]int64{}}
		forget := func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			mu.Lock()
			defer mu.Unlock()
			for _, p := range lost[res.Topic] {
				delete(m.last, p)
			}
		}
		cl, err := kgo.NewClient(opts(res.Bootstrap,
			kgo.ConsumerGroup(group),
			kgo.ConsumeTopics(res.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.DisableAutoCommit(),
			kgo.BlockRebalanceOnPoll(),
			kgo.OnPartitionsRevoked(forget),
			kgo.OnPartitionsLost(forget),
			kgo.ClientID(fmt.Sprintf("matrix-member-%d", n+1)),
		)...)
		if err != nil {
			res.fail("consumer %d: %v", n+1, err)
			return
		}
		m.cl = cl
		ms[n] = m
	}
	// Closing leaves the group (LeaveGroup), so it is Empty afterwards.
	defer func() {
		for _, m := range ms {
			m.cl.Close()
		}
	}()

	// Both members poll until every acknowledged record has been seen, and go on polling while the group
	// is described, so that a member that joined late is rebalanced in; then they stop (still members).
	var wg sync.WaitGroup
	done := make(chan struct{})
	stop := make(chan struct{})
	var once sync.Once
	for n, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				pollCtx, pollCancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fetches := m.cl.PollFetches(pollCtx)
				pollCancel()
				if ctx.Err() != nil {
					m.cl.AllowRebalance()
					return
				}
				fetches.EachError(func(t string, p int32, err error) {
					if err != context.DeadlineExceeded {
						mu.Lock()
						res.fail("member %d fetch %s/%d: %v", n+1, t, p, err)
						mu.Unlock()
					}
				})
				recs := fetches.Records()
				mu.Lock()
				for _, r := range recs {
					check(res, m, n, r, expected, seen)
				}
				complete := len(seen) == len(expected)
				mu.Unlock()
				if len(recs) > 0 {
					if err := m.cl.CommitRecords(ctx, recs...); err != nil {
						mu.Lock()
						res.fail("member %d commit: %v", n+1, err)
						mu.Unlock()
					}
				}
				m.cl.AllowRebalance()
				if complete {
					once.Do(func() { close(done) })
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	mu.Lock()
	res.Consumed = len(seen)
	if len(seen) != len(expected) {
		res.fail("consumed %d distinct records, %d were acknowledged", len(seen), len(expected))
	}
	mu.Unlock()
	res.mark("consume")
	describeGroup(ctx, res, adm, group)
	res.mark("describeGroup")
	close(stop)
	wg.Wait()
	offsets(ctx, res, adm, group)
	res.mark("offsets")
}

func check(res *result, m *member, n int, r *kgo.Record, expected map[where]sent, seen map[where]bool) {
	w := where{r.Partition, r.Offset}
	if last, ok := m.last[r.Partition]; ok && r.Offset <= last {
		res.fail("member %d partition %d: offset %d after %d", n+1, r.Partition, r.Offset, last)
	}
	m.last[r.Partition] = r.Offset
	want, ok := expected[w]
	if !ok {
		res.fail("record at %d/%d was never acknowledged", r.Partition, r.Offset)
		return
	}
	if seen[w] {
		res.Redeliver++
	}
	seen[w] = true
	if string(r.Key) != want.key || string(r.Value) != want.value {
		res.fail("record at %d/%d: key %q value %q, sent %q %q", r.Partition, r.Offset, r.Key, r.Value, want.key, want.value)
	}
	if !r.Timestamp.Equal(want.timestamp) || r.Attrs.TimestampType() != 0 {
		res.fail("record at %d/%d: timestamp %v (type %d), sent %v (CreateTime)", r.Partition, r.Offset, r.Timestamp, r.Attrs.TimestampType(), want.timestamp)
	}
	got := make([]header, 0, len(r.Headers))
	for _, h := range r.Headers {
		got = append(got, header{h.Key, string(h.Value)})
	}
	if fmt.Sprint(got) != fmt.Sprint(want.headers) {
		res.fail("record at %d/%d: headers %v, sent %v", r.Partition, r.Offset, got, want.headers)
	}
}

// describeGroup checks the group (two members, every partition assigned once) while both are in it.
func describeGroup(ctx context.Context, res *result, adm *kadm.Client, group string) {
	// A member that joined late may still be rebalancing in: poll the description a bounded while.
	var g kadm.DescribedGroup
	for attempt := 0; ; attempt++ {
		groups, err := adm.DescribeGroups(ctx, group)
		if err != nil {
			res.fail("describe group: %v", err)
			return
		}
		var ok bool
		if g, ok = groups[group]; !ok || g.Err != nil {
			res.fail("describe group: %v", g.Err)
			return
		}
		if (g.State == "Stable" && len(g.Members) == members && fmt.Sprint(assigned(res, g)) == "[0 1 2]") || attempt >= 50 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := assigned(res, g)
	res.Group["state"] = g.State
	res.Group["protocolType"] = g.ProtocolType
	res.Group["protocol"] = g.Protocol
	res.Group["members"] = len(g.Members)
	res.Group["assigned"] = got
	if g.State != "Stable" || g.ProtocolType != "consumer" || len(g.Members) != members {
		res.fail("group %s: state %s, protocol type %q, %d members", group, g.State, g.ProtocolType, len(g.Members))
	}
	if fmt.Sprint(got) != "[0 1 2]" {
		res.fail("group assignment covers partitions %v", got)
	}
}

// assigned lists the topic's partitions the members of g are assigned, sorted.
func assigned(res *result, g kadm.DescribedGroup) []int32 {
	ps := []int32{}
	for _, m := range g.Members {
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == res.Topic {
					ps = append(ps, t.Partitions...)
				}
			}
		}
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// offsets checks that the committed offsets reached each partition's end.
func offsets(ctx context.Context, res *result, adm *kadm.Client, group string) {

	ends, err := adm.ListEndOffsets(ctx, res.Topic)
	if err != nil {
		res.fail("list end offsets: %v", err)
		return
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		res.fail("fetch offsets: %v", err)
		return
	}
	for p := range int32(partitions) {
		key := strconv.Itoa(int(p))
		end, ok := ends.Lookup(res.Topic, p)
		if !ok || end.Err != nil {
			res.fail("end offset of partition %d: %v", p, end.Err)
			continue
		}
		res.EndOffset[key] = end.Offset
		c, ok := committed.Lookup(res.Topic, p)
		if !ok || c.Err != nil {
			res.fail("committed offset of partition %d: missing or %v", p, c.Err)
			continue
		}
		res.Committed[key] = c.At
		if c.At != end.Offset {
			res.fail("partition %d: committed %d, end offset %d", p, c.At, end.Offset)
		}
	}
}
