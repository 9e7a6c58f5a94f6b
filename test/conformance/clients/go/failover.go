package main

// The failover scenario (test/conformance/replication-clients.test.ts; the same as
// ../python/failover_produce.py): numbered records "0".."count-1" a few milliseconds apart, acks=all
// and idempotent (franz-go's defaults), printing "acked <n>" as acknowledgements arrive (the test kills
// the partition leader on one of these lines); once every send has settled, the records are read back
// in a group. Prints one JSON line: {"acked": [...], "errors": [...], "consumed": [...]}.

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func failover(bootstrap, topic string, count int) {
	seeds := kgo.SeedBrokers(strings.Split(bootstrap, ",")...)
	acked := []string{}
	errs := []string{}
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	producer, err := kgo.NewClient(
		seeds,
		kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5*time.Millisecond),
		// Uncompressed (franz-go's default is snappy, which the kafkajs readers of the test cannot read;
		// codecs are the client matrix's business).
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordDeliveryTimeout(120*time.Second),
	)
	if err != nil {
		errs = append(errs, "producer: "+err.Error())
	} else {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := 0; i < count; i++ {
			value := strconv.Itoa(i)
			wg.Add(1)
			producer.Produce(ctx, &kgo.Record{Value: []byte(value)}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, value+": "+err.Error())
					return
				}
				acked = append(acked, value)
				if len(acked)%10 == 0 {
					fmt.Printf("acked %d\n", len(acked))
				}
			})
			time.Sleep(5 * time.Millisecond)
		}
		wg.Wait()
		producer.Close()
	}
	consumed := []string{}
	consumer, err := kgo.NewClient(
		seeds,
		kgo.ConsumeTopics(topic),
		kgo.ConsumerGroup(topic+"-reader"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
	)
	if err != nil {
		errs = append(errs, "consumer: "+err.Error())
	} else {
		deadline := time.Now().Add(60 * time.Second)
		for len(consumed) < len(acked) && time.Now().Before(deadline) {
			pollCtx, done := context.WithTimeout(ctx, time.Second)
			fetches := consumer.PollFetches(pollCtx)
			done()
			fetches.EachRecord(func(r *kgo.Record) { consumed = append(consumed, string(r.Value)) })
		}
		consumer.Close()
	}
	out, _ := json.Marshal(map[string][]string{"acked": acked, "errors": errs, "consumed": consumed})
	fmt.Println(string(out))
}
