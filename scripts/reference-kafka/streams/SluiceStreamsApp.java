// Kafka Streams topologies that @sluice/streams is compared with (conformance) and measured against
// (benchmark). Keys and values are UTF-8 strings; counts are written as decimal strings, the same bytes
// as @sluice/streams' serde.json<number>().
//
//   wordcount <bootstrap> <appId> <guarantee> <commitMs> <input> <output>
//   windowed  <bootstrap> <appId> <guarantee> <commitMs> <input> <output> <sizeMs> <graceMs>
//       tumbling-window count per key, suppressed until the window closes; output key "key@start-end"
//   join      <bootstrap> <appId> <guarantee> <commitMs> <stream> <table> <output>
//       stream-table inner join; output value "streamValue|tableValue"
//
// Runs until SIGTERM, then closes (committing). Prints "RUNNING" on stdout once the app is running.
import java.time.Duration;
import java.util.Arrays;
import java.util.Locale;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.KTable;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Suppressed;
import org.apache.kafka.streams.kstream.TimeWindows;

public final class SluiceStreamsApp {
  public static void main(String[] args) throws Exception {
    if (args.length < 6) throw new IllegalArgumentException("usage: <mode> <bootstrap> <appId> <guarantee> <commitMs> topics...");
    String mode = args[0];
    Properties props = new Properties();
    props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[1]);
    props.put(StreamsConfig.APPLICATION_ID_CONFIG, args[2]);
    props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[3]);
    props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, args[4]);
    props.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
    props.put(StreamsConfig.STATE_DIR_CONFIG, System.getProperty("java.io.tmpdir") + "/kafka-streams-" + args[2]);
    // Every update is written (as @sluice/streams, which has no record cache): outputs compare one to one.
    props.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
    props.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    props.put("consumer.auto.offset.reset", "earliest");
    String[] rest = Arrays.copyOfRange(args, 5, args.length);

    StreamsBuilder b = new StreamsBuilder();
    switch (mode) {
      case "wordcount": {
        KStream<String, String> lines = b.stream(rest[0], Consumed.with(Serdes.String(), Serdes.String()));
        lines
            .flatMapValues(line -> Arrays.stream(line.toLowerCase(Locale.ROOT).split("\\W+")).filter(w -> !w.isEmpty()).toList())
            .groupBy((k, w) -> w, Grouped.<String, String>as("counts").withKeySerde(Serdes.String()).withValueSerde(Serdes.String()))
            .count()
            .toStream()
            .mapValues(n -> Long.toString(n))
            .to(rest[1], Produced.with(Serdes.String(), Serdes.String()));
        break;
      }
      case "windowed": {
        long size = Long.parseLong(rest[2]);
        long grace = Long.parseLong(rest[3]);
        b.stream(rest[0], Consumed.with(Serdes.String(), Serdes.String()))
            .groupByKey()
            .windowedBy(TimeWindows.ofSizeAndGrace(Duration.ofMillis(size), Duration.ofMillis(grace)))
            .count()
            .suppress(Suppressed.untilWindowCloses(Suppressed.BufferConfig.unbounded()))
            .toStream()
            .map((w, n) -> KeyValue.pair(w.key() + "@" + w.window().start() + "-" + w.window().end(), Long.toString(n)))
            .to(rest[1], Produced.with(Serdes.String(), Serdes.String()));
        break;
      }
      case "join": {
        KStream<String, String> stream = b.stream(rest[0], Consumed.with(Serdes.String(), Serdes.String()));
        KTable<String, String> table = b.table(rest[1], Consumed.with(Serdes.String(), Serdes.String()));
        stream.join(table, (v, t) -> v + "|" + t).to(rest[2], Produced.with(Serdes.String(), Serdes.String()));
        break;
      }
      default:
        throw new IllegalArgumentException("unknown mode " + mode);
    }

    KafkaStreams app = new KafkaStreams(b.build(), props);
    CountDownLatch done = new CountDownLatch(1);
    app.setStateListener((now, before) -> {
      if (now == KafkaStreams.State.RUNNING) System.out.println("RUNNING");
      if (now == KafkaStreams.State.ERROR || now == KafkaStreams.State.NOT_RUNNING) done.countDown();
    });
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      app.close(Duration.ofSeconds(20));
      done.countDown();
    }));
    app.cleanUp();
    app.start();
    done.await();
  }
}
