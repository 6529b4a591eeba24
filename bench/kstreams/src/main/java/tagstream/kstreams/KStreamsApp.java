package tagstream.kstreams;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.twitter.twittertext.Extractor;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.text.Normalizer;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.LongAdder;
import java.util.regex.Pattern;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * tagstream's hashtag counting (counts only) as a Kafka Streams application:
 *
 * <pre>
 * posts (key user_id, JSON PostEvent)
 *   -> process(PostProcessor, store "posts": user_id/post_id -> hashtag keys | tombstone)
 *   -> (hashtag, +1/-1)
 *   -> repartition by hashtag ("hashtag-diffs", default murmur2 partitioner)
 *   -> groupByKey().reduce(sum) (store "counts")
 *   -> output (key hashtag, value count as a decimal string)
 * </pre>
 *
 * Usage and flags: README.md. Exit status: 0 after SIGTERM/SIGINT and a clean
 * close, 1 if the application went to ERROR or did not close in time, 2 on
 * bad flags.
 */
public final class KStreamsApp {

    static final String POSTS_STORE = "posts";
    static final String COUNTS_STORE = "counts";
    static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(60);

    // tagstream's limits (events.MaxPostEventBytes, package ids, package hashtag).
    static final int MAX_VALUE_BYTES = 64 << 10;
    static final int MAX_CAPTION_CHARS = 2200; // code points
    static final int MAX_HASHTAGS = 30; // distinct keys per post
    static final int MAX_HASHTAG_CHARS = 100; // code points, as written
    static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    // Per-post state in the store: "+" then the post's keys separated by
    // spaces (a key never holds white space), or TOMBSTONE once deleted.
    static final String TOMBSTONE = "-";

    /** Records skipped as invalid, and valid events that changed nothing, by reason; all threads. */
    static final Map<String, LongAdder> INVALID = new ConcurrentHashMap<>();
    static final Map<String, LongAdder> IGNORED = new ConcurrentHashMap<>();

    public static Topology topology(String input, String output) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(
                Stores.persistentKeyValueStore(POSTS_STORE), Serdes.String(), Serdes.String()));
        builder.stream(input, Consumed.with(Serdes.String(), Serdes.ByteArray()))
                .process(PostProcessor::new, POSTS_STORE)
                .repartition(Repartitioned.with(Serdes.String(), Serdes.Long()).withName("hashtag-diffs"))
                .groupByKey(Grouped.with(Serdes.String(), Serdes.Long()))
                .reduce(Long::sum, Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(COUNTS_STORE)
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .mapValues(count -> Long.toString(count))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));
        return builder.build();
    }

    /** Applies one post event to the post's state and forwards (hashtag, +1/-1) per change. */
    static final class PostProcessor implements Processor<String, byte[], String, Long> {
        private static final ObjectMapper JSON = new ObjectMapper()
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);
        private final Extractor extractor = new Extractor();
        private ProcessorContext<String, Long> context;
        private KeyValueStore<String, String> posts;

        @Override
        public void init(ProcessorContext<String, Long> context) {
            this.context = context;
            this.posts = context.getStateStore(POSTS_STORE);
        }

        @Override
        public void process(Record<String, byte[]> record) {
            Event e;
            try {
                e = decode(record.key(), record.value());
            } catch (Invalid err) {
                INVALID.computeIfAbsent(err.getMessage(), k -> new LongAdder()).increment();
                return;
            }
            String key = e.userId + "/" + e.postId;
            String prev = posts.get(key);
            boolean live = prev != null && !prev.equals(TOMBSTONE);
            switch (e.type) {
                case "created" -> {
                    if (prev != null) {
                        ignored("duplicate_create");
                        return;
                    }
                    posts.put(key, "+" + String.join(" ", e.keys));
                    emit(record, e.keys, +1);
                }
                case "edited" -> {
                    if (!live) {
                        ignored("edit_unknown");
                        return;
                    }
                    Set<String> old = keysOf(prev);
                    posts.put(key, "+" + String.join(" ", e.keys));
                    emit(record, minus(old, e.keys), -1);
                    emit(record, minus(e.keys, old), +1);
                }
                default -> { // "deleted"
                    if (!live) {
                        ignored("delete_unknown");
                        return;
                    }
                    posts.put(key, TOMBSTONE);
                    emit(record, keysOf(prev), -1);
                }
            }
        }

        private void emit(Record<String, byte[]> from, Iterable<String> keys, long sign) {
            for (String k : keys) {
                context.forward(new Record<>(k, sign, from.timestamp()));
            }
        }

        private static Set<String> keysOf(String state) {
            Set<String> keys = new LinkedHashSet<>();
            if (state.length() > 1) {
                keys.addAll(Arrays.asList(state.substring(1).split(" ")));
            }
            return keys;
        }

        private static List<String> minus(Set<String> a, Set<String> b) {
            List<String> out = new ArrayList<>();
            for (String k : a) {
                if (!b.contains(k)) {
                    out.add(k);
                }
            }
            return out;
        }

        private static void ignored(String kind) {
            IGNORED.computeIfAbsent(kind, k -> new LongAdder()).increment();
        }

        /** A valid post event: type, ids and (unless deleted) its caption's distinct keys. */
        record Event(String type, String userId, String postId, Set<String> keys) {}

        static final class Invalid extends Exception {
            Invalid(String reason) {
                super(reason, null, false, false);
            }
        }

        /** tagstream's events.DecodePostEvent followed by hashtag.Validate. */
        Event decode(String recordKey, byte[] value) throws Invalid {
            if (value == null) {
                throw new Invalid("bad_json");
            }
            if (value.length > MAX_VALUE_BYTES) {
                throw new Invalid("too_large");
            }
            JsonNode doc;
            try {
                String text = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(value)).toString();
                doc = JSON.readTree(text);
            } catch (CharacterCodingException | JsonProcessingException err) {
                throw new Invalid("bad_json");
            }
            if (doc == null || !doc.isObject()) {
                throw new Invalid("bad_json");
            }
            String type = text(doc, "type");
            String postId = text(doc, "post_id");
            String userId = text(doc, "user_id");
            String imageId = text(doc, "image_id");
            String caption = text(doc, "caption");
            String ts = text(doc, "ts");
            if (!ts.isEmpty()) {
                try {
                    OffsetDateTime.parse(ts);
                } catch (DateTimeParseException err) {
                    throw new Invalid("bad_json");
                }
            }
            switch (type) {
                case "created", "edited", "deleted" -> { }
                case "" -> throw new Invalid("missing_field");
                default -> throw new Invalid("invalid_field");
            }
            checkId(postId);
            checkId(userId);
            if (!imageId.isEmpty()) {
                checkId(imageId);
            }
            if (!userId.equals(recordKey)) {
                throw new Invalid("key_mismatch");
            }
            Set<String> keys = type.equals("deleted") ? Set.of() : validate(caption);
            return new Event(type, userId, postId, keys);
        }

        /** A string field, "" if absent or null; any other JSON type is bad JSON (as in Go). */
        private static String text(JsonNode doc, String field) throws Invalid {
            JsonNode v = doc.get(field);
            if (v == null || v.isNull()) {
                return "";
            }
            if (!v.isTextual()) {
                throw new Invalid("bad_json");
            }
            return v.textValue();
        }

        private static void checkId(String id) throws Invalid {
            if (id.isEmpty()) {
                throw new Invalid("missing_field");
            }
            if (!ID.matcher(id).matches()) {
                throw new Invalid("invalid_field");
            }
        }

        /** The caption's distinct hashtag keys in order of appearance, or Invalid past a limit. */
        private Set<String> validate(String caption) throws Invalid {
            if (caption.codePointCount(0, caption.length()) > MAX_CAPTION_CHARS) {
                throw new Invalid("caption_runes");
            }
            List<String> tags = asciiHashtags(caption);
            if (tags == null) {
                tags = extractor.extractHashtags(caption);
            }
            for (String tag : tags) {
                if (tag.codePointCount(0, tag.length()) > MAX_HASHTAG_CHARS) {
                    throw new Invalid("hashtag_runes");
                }
            }
            Set<String> keys = new LinkedHashSet<>();
            for (String tag : tags) {
                String k = normalize(tag);
                if (k != null) {
                    keys.add(k);
                }
            }
            if (keys.size() > MAX_HASHTAGS) {
                throw new Invalid("hashtags");
            }
            return keys;
        }

        /**
         * twitter-text's hashtags of a caption that is ASCII and holds no '.'
         * or ':' (so no URL, whose hashtag-like fragments twitter-text
         * skips), found without a regular expression; null for any other
         * caption, which twitter-text reads. Why: a JFR profile of this
         * application under make bench put 30 % of its samples in
         * java.util.regex, evaluating twitter-text's Unicode classes for
         * every character; the comparison is of the stream processors, and
         * tagstream's own extraction is a hand-written scanner. For these
         * captions the rules reduce to: '#' at the start or after a
         * character other than [A-Za-z0-9_&], then [A-Za-z0-9_]+ with at
         * least one letter, not followed by '#'. The benchmark checks the
         * outcome: every count must equal tagstream's ground truth.
         */
        static List<String> asciiHashtags(String caption) {
            int n = caption.length();
            for (int i = 0; i < n; i++) {
                char c = caption.charAt(i);
                if (c >= 0x80 || c == '.' || c == ':') {
                    return null;
                }
            }
            List<String> tags = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (caption.charAt(i) != '#') {
                    continue;
                }
                if (i > 0) {
                    char p = caption.charAt(i - 1);
                    if (wordChar(p) || p == '&') {
                        continue;
                    }
                }
                int j = i + 1;
                boolean letter = false;
                while (j < n && wordChar(caption.charAt(j))) {
                    char t = caption.charAt(j);
                    letter |= (t >= 'a' && t <= 'z') || (t >= 'A' && t <= 'Z');
                    j++;
                }
                if (j > i + 1 && letter && (j == n || caption.charAt(j) != '#')) {
                    tags.add(caption.substring(i + 1, j));
                }
                i = j - 1;
            }
            return tags;
        }

        private static boolean wordChar(char c) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        }

        /**
         * A hashtag's key: NFKC, then lower case (Locale.ROOT), repeated until
         * stable. tagstream uses Unicode full case folding instead of lower
         * case, which differs only for a few characters (e.g. "ß" folds to
         * "ss"); the benchmark's hashtags are ASCII a-z in mixed case, for
         * which both are plain lower-casing, so the counts are identical.
         * Like tagstream, a non-ASCII tag whose key is not itself a hashtag
         * (NFKC can introduce spaces) is left out: null.
         */
        private String normalize(String tag) {
            boolean ascii = tag.chars().allMatch(c -> c < 0x80);
            if (ascii) {
                return tag.toLowerCase(Locale.ROOT);
            }
            String k = tag;
            for (int round = 0; round < 5; round++) {
                String next = Normalizer.normalize(k, Normalizer.Form.NFKC).toLowerCase(Locale.ROOT);
                if (next.equals(k)) {
                    return extractor.extractHashtags("#" + k).equals(List.of(k)) ? k : null;
                }
                k = next;
            }
            return null;
        }
    }

    // --- main ------------------------------------------------------------------

    public static void main(String[] args) throws Exception {
        Map<String, String> flags = parseFlags(args);
        String bootstrap = flag(flags, "bootstrap", System.getenv("TAGSTREAM_BROKERS"));
        String appId = flag(flags, "application-id", null);
        String input = flag(flags, "input", null);
        String output = flag(flags, "output", null);
        String stateDir = flag(flags, "state-dir", null);
        String guarantee = flag(flags, "guarantee", StreamsConfig.AT_LEAST_ONCE);
        String user = flag(flags, "user", System.getenv("TAGSTREAM_KAFKA_USER"));
        String password = flag(flags, "password", System.getenv("TAGSTREAM_KAFKA_PASSWORD"));
        // tagstream's worker commits every second; Kafka Streams' own default
        // is 30 s (at_least_once) or 100 ms (exactly_once_v2).
        String commitMs = flag(flags, "commit-interval-ms", "1000");
        String threads = flag(flags, "threads", "2"); // the benchmark machine's cores
        if (!flags.isEmpty()) {
            usage("unknown flag --" + flags.keySet().iterator().next());
        }
        for (String[] req : new String[][] {{"bootstrap", bootstrap}, {"application-id", appId},
                {"input", input}, {"output", output}, {"state-dir", stateDir}}) {
            if (req[1] == null || req[1].isEmpty()) {
                usage("--" + req[0] + " is required");
            }
        }
        if (!guarantee.equals(StreamsConfig.AT_LEAST_ONCE) && !guarantee.equals(StreamsConfig.EXACTLY_ONCE_V2)) {
            usage("--guarantee must be at_least_once or exactly_once_v2");
        }

        Properties props = new Properties();
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, appId);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, guarantee);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        props.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, threads);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG), "earliest");
        if (user != null && !user.isEmpty()) {
            props.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
            props.put(SaslConfigs.SASL_MECHANISM, "SCRAM-SHA-512");
            props.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.scram.ScramLoginModule required"
                    + " username=\"" + jaasQuote(user) + "\" password=\"" + jaasQuote(password == null ? "" : password) + "\";");
        }

        KafkaStreams streams = new KafkaStreams(topology(input, output), props);
        CountDownLatch stop = new CountDownLatch(1);
        AtomicBoolean running = new AtomicBoolean();
        AtomicBoolean failed = new AtomicBoolean();
        streams.setStateListener((now, before) -> {
            if (now == KafkaStreams.State.RUNNING && running.compareAndSet(false, true)) {
                System.out.println("kstreams: running");
                System.out.flush();
            } else if (now == KafkaStreams.State.ERROR) {
                failed.set(true);
                stop.countDown();
            }
        });
        // A failing stream thread stops the whole client (state ERROR), and so the process.
        streams.setUncaughtExceptionHandler(err -> {
            System.err.println("kstreams: stream thread failed: " + err);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        // SIGTERM/SIGINT only wake main, which closes the app and exits 0: a
        // JVM shut down by a signal exits 143/130, whatever its hooks do. The
        // hook still closes the app when the JVM stops for any other reason.
        for (String sig : new String[] {"TERM", "INT"}) {
            sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> stop.countDown());
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> streams.close(CLOSE_TIMEOUT), "kstreams-shutdown"));

        streams.start();
        stop.await();
        boolean closed = streams.close(CLOSE_TIMEOUT);
        System.err.println("kstreams: stopped; invalid records skipped: " + total(INVALID) + " " + byReason(INVALID)
                + "; no-op events: " + total(IGNORED) + " " + byReason(IGNORED));
        if (failed.get()) {
            System.err.println("kstreams: the application went to ERROR");
            System.exit(1);
        }
        if (!closed) {
            System.err.println("kstreams: did not close within " + CLOSE_TIMEOUT);
            System.exit(1);
        }
        System.exit(0);
    }

    private static long total(Map<String, LongAdder> m) {
        return m.values().stream().mapToLong(LongAdder::sum).sum();
    }

    private static Map<String, Long> byReason(Map<String, LongAdder> m) {
        Map<String, Long> out = new TreeMap<>();
        m.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    private static String jaasQuote(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** --name value or --name=value; all flags take a value. */
    private static Map<String, String> parseFlags(String[] args) {
        Map<String, String> flags = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                usage(null);
            }
            if (!a.startsWith("--")) {
                usage("unexpected argument " + a);
            }
            String name = a.substring(2);
            String value;
            int eq = name.indexOf('=');
            if (eq >= 0) {
                value = name.substring(eq + 1);
                name = name.substring(0, eq);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                usage("--" + name + " needs a value");
                return flags;
            }
            flags.put(name, value);
        }
        return flags;
    }

    private static String flag(Map<String, String> flags, String name, String fallback) {
        String v = flags.remove(name);
        return v != null ? v : fallback;
    }

    private static void usage(String problem) {
        if (problem != null) {
            System.err.println("kstreams: " + problem);
        }
        System.err.println("usage: run.sh --bootstrap HOST:PORT --application-id ID --input TOPIC --output TOPIC"
                + " --state-dir DIR [--guarantee at_least_once|exactly_once_v2] [--commit-interval-ms 1000]"
                + " [--threads 2] [--user U --password P]  (see README.md)");
        System.exit(problem == null ? 0 : 2);
    }
}
