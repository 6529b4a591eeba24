package tagstream.kstreams;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SaslConfigs;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Test tool for KStreamsApp, not used by the benchmark (MAIN_CLASS=tagstream.kstreams.Check run.sh ...):
 *
 * <pre>
 * create-topics --bootstrap B --topics a,b [--partitions 12]
 * produce       --bootstrap B --topic posts --events N [--seed 1] --expected FILE
 * verify        --bootstrap B --topic output --expected FILE [--wait-s 120]
 * </pre>
 *
 * produce writes random post events (creates, edits, deletes, duplicate and
 * unknown-post events, invalid records, limit edge cases) and computes the
 * expected count per hashtag with its own model of the rules, from the tags
 * it chose rather than by parsing captions; verify reads the output topic
 * (read_committed) until the last value of every hashtag equals it.
 * SASL from TAGSTREAM_KAFKA_USER / TAGSTREAM_KAFKA_PASSWORD.
 */
public final class Check {

    public static void main(String[] args) throws Exception {
        String mode = args[0];
        Map<String, String> f = new HashMap<>();
        for (int i = 1; i + 1 < args.length; i += 2) {
            f.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        Properties p = new Properties();
        p.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, f.get("bootstrap"));
        String user = System.getenv("TAGSTREAM_KAFKA_USER");
        if (user != null && !user.isEmpty()) {
            p.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SASL_PLAINTEXT");
            p.put(SaslConfigs.SASL_MECHANISM, "SCRAM-SHA-512");
            p.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                    + user + "\" password=\"" + System.getenv("TAGSTREAM_KAFKA_PASSWORD") + "\";");
        }
        switch (mode) {
            case "create-topics" -> {
                int parts = Integer.parseInt(f.getOrDefault("partitions", "12"));
                try (Admin admin = Admin.create(p)) {
                    List<NewTopic> topics = new ArrayList<>();
                    for (String t : f.get("topics").split(",")) {
                        topics.add(new NewTopic(t, parts, (short) -1));
                    }
                    admin.createTopics(topics).all().get();
                }
                System.out.println("created " + f.get("topics"));
            }
            case "produce" -> produce(p, f.get("topic"), Integer.parseInt(f.get("events")),
                    Long.parseLong(f.getOrDefault("seed", "1")), Path.of(f.get("expected")));
            case "verify" -> System.exit(verify(p, f.get("topic"), Path.of(f.get("expected")),
                    Duration.ofSeconds(Long.parseLong(f.getOrDefault("wait-s", "120")))));
            default -> throw new IllegalArgumentException(mode);
        }
    }

    // --- produce -----------------------------------------------------------------

    record Post(String user, String id) {}

    static void produce(Properties p, String topic, int events, long seed, Path expectedFile) throws Exception {
        Random rnd = new Random(seed);
        List<String> vocab = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        while (vocab.size() < 300) {
            StringBuilder b = new StringBuilder();
            int n = 3 + rnd.nextInt(10);
            for (int i = 0; i < n; i++) {
                b.append((char) ('a' + rnd.nextInt(26)));
            }
            if (seen.add(b.toString())) {
                vocab.add(b.toString());
            }
        }
        // The model: keys of each live post, deleted posts, counts.
        Map<Post, Set<String>> live = new HashMap<>();
        Set<Post> deleted = new HashSet<>();
        List<Post> known = new ArrayList<>();
        Map<String, Long> counts = new TreeMap<>();
        Map<String, Integer> stats = new TreeMap<>();
        int invalid = 0;
        int nextPost = 0;

        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        try (KafkaProducer<String, byte[]> producer =
                     new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
            for (int n = 0; n < events; n++) {
                double r = rnd.nextDouble();
                String kind;
                byte[] value;
                String key;
                if (r < 0.55 || known.isEmpty()) { // a new post
                    Post post = new Post("u" + rnd.nextInt(200), "p" + (nextPost++));
                    Set<String> tags = pickTags(rnd, vocab, rnd.nextInt(9));
                    key = post.user;
                    value = event("created", post, caption(rnd, tags, vocab));
                    live.put(post, tags);
                    known.add(post);
                    add(counts, tags, +1);
                    kind = "create";
                } else if (r < 0.68) { // edit a known post (maybe deleted: a no-op)
                    Post post = known.get(rnd.nextInt(known.size()));
                    key = post.user;
                    Set<String> old = live.getOrDefault(post, Set.of());
                    Set<String> tags = new LinkedHashSet<>();
                    for (String t : old) {
                        if (rnd.nextBoolean()) {
                            tags.add(t);
                        }
                    }
                    tags.addAll(pickTags(rnd, vocab, rnd.nextInt(5)));
                    value = event("edited", post, caption(rnd, tags, vocab));
                    if (live.containsKey(post)) {
                        add(counts, old, -1);
                        add(counts, tags, +1);
                        live.put(post, tags);
                        kind = "edit";
                    } else {
                        kind = "edit_deleted";
                    }
                } else if (r < 0.76) { // delete a known post (maybe already deleted)
                    Post post = known.get(rnd.nextInt(known.size()));
                    key = post.user;
                    value = event("deleted", post, null);
                    if (live.containsKey(post)) {
                        add(counts, live.remove(post), -1);
                        deleted.add(post);
                        kind = "delete";
                    } else {
                        kind = "delete_deleted";
                    }
                } else if (r < 0.80) { // create again a known post: a duplicate, counts nothing
                    Post post = known.get(rnd.nextInt(known.size()));
                    key = post.user;
                    value = event("created", post, caption(rnd, pickTags(rnd, vocab, 3), vocab));
                    kind = "duplicate_create";
                } else if (r < 0.83) { // edit or delete a post nobody created
                    Post post = new Post("u" + rnd.nextInt(200), "ghost" + n);
                    key = post.user;
                    value = rnd.nextBoolean() ? event("edited", post, caption(rnd, pickTags(rnd, vocab, 3), vocab))
                            : event("deleted", post, null);
                    kind = "unknown_post";
                } else if (r < 0.93) { // invalid: skipped, and the post (if any) keeps its state
                    Post post = rnd.nextBoolean() ? known.get(rnd.nextInt(known.size()))
                            : new Post("u" + rnd.nextInt(200), "p" + (nextPost++));
                    key = post.user;
                    int which = rnd.nextInt(16);
                    value = invalid(rnd, which, post, vocab);
                    if (which == 2) {
                        key = "someone-else";
                    }
                    invalid++;
                    kind = "invalid_" + which;
                } else { // valid edge cases at the limits
                    Post post = new Post("u" + rnd.nextInt(200), "p" + (nextPost++));
                    key = post.user;
                    Set<String> tags;
                    String caption;
                    switch (rnd.nextInt(4)) {
                        case 0 -> { // exactly 30 distinct keys, each written twice in different case
                            tags = pickTags(rnd, vocab, 30);
                            caption = caption(rnd, tags, vocab);
                            kind = "edge_30_tags";
                        }
                        case 1 -> { // a tag of exactly 100 characters
                            String t = (vocab.get(rnd.nextInt(50)) + "x".repeat(100)).substring(0, 100);
                            tags = new LinkedHashSet<>(List.of(t));
                            caption = "long one #" + t.toUpperCase(Locale.ROOT);
                            kind = "edge_100_chars";
                        }
                        case 2 -> { // a caption of exactly 2,200 code points (some astral)
                            tags = pickTags(rnd, vocab, 3);
                            String c = caption(rnd, tags, vocab) + " ";
                            StringBuilder b = new StringBuilder(c);
                            while (b.codePointCount(0, b.length()) < 2200) {
                                b.append(rnd.nextBoolean() ? "\uD83D\uDE00" : "é");
                            }
                            caption = b.toString();
                            kind = "edge_2200_chars";
                        }
                        default -> { // full-width letters (NFKC), a URL fragment and a digits-only tag
                            tags = pickTags(rnd, vocab, 2);
                            List<String> two = new ArrayList<>(tags);
                            StringBuilder fw = new StringBuilder("＃");
                            for (char c : two.get(1).toUpperCase(Locale.ROOT).toCharArray()) {
                                fw.append((char) (c - 'A' + 'Ａ'));
                            }
                            caption = "#" + mixCase(rnd, two.get(0)) + " and " + fw + " see https://example.com/#"
                                    + vocab.get(299) + " #2024 ok";
                            kind = "edge_unicode";
                        }
                    }
                    value = event("created", post, caption);
                    live.put(post, tags);
                    known.add(post);
                    add(counts, tags, +1);
                }
                stats.merge(kind, 1, Integer::sum);
                producer.send(new ProducerRecord<>(topic, key, value));
            }
            producer.flush();
        }
        List<String> lines = new ArrayList<>();
        lines.add("# events " + events + " invalid " + invalid + " " + stats);
        counts.forEach((k, v) -> lines.add(k + "\t" + v));
        Files.write(expectedFile, lines);
        System.out.println("produced " + events + " events (" + invalid + " invalid) onto " + topic + ": " + stats);
        System.out.println("expected: " + counts.size() + " hashtags, " + counts.values().stream().filter(v -> v != 0).count()
                + " non-zero, sum " + counts.values().stream().mapToLong(Long::longValue).sum() + " -> " + expectedFile);
    }

    static Set<String> pickTags(Random rnd, List<String> vocab, int n) {
        Set<String> tags = new LinkedHashSet<>();
        while (tags.size() < n) {
            // Skewed: low indexes are popular. vocab[299] is kept for URL fragments only.
            int i = (int) Math.min(298, Math.floor(Math.pow(rnd.nextDouble(), 3) * 299));
            tags.add(vocab.get(i));
        }
        return tags;
    }

    /** Each tag written once or twice in random case, between words; " #tag " separated. */
    static String caption(Random rnd, Set<String> tags, List<String> vocab) {
        StringBuilder b = new StringBuilder("Look at this");
        for (String t : tags) {
            b.append(' ').append(vocab.get(rnd.nextInt(vocab.size()))).append(" #").append(mixCase(rnd, t)).append(' ');
            if (rnd.nextInt(4) == 0) {
                b.append("again #").append(mixCase(rnd, t)).append('!');
            }
        }
        return b.toString();
    }

    static String mixCase(Random rnd, String s) {
        StringBuilder b = new StringBuilder();
        for (char c : s.toCharArray()) {
            b.append(rnd.nextBoolean() ? Character.toUpperCase(c) : c);
        }
        return b.toString();
    }

    static String q(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                default -> {
                    if (c < 0x20) {
                        b.append(String.format("\\u%04x", (int) c));
                    } else {
                        b.append(c);
                    }
                }
            }
        }
        return b.append('"').toString();
    }

    static byte[] event(String type, Post post, String caption) {
        String json = "{\"type\":" + q(type) + ",\"post_id\":" + q(post.id) + ",\"user_id\":" + q(post.user)
                + (caption == null ? "" : ",\"caption\":" + q(caption))
                + ",\"image_id\":\"img-1\",\"ts\":\"2025-01-02T03:04:05.123Z\",\"unknown\":{\"x\":[1,2]}}";
        return json.getBytes(StandardCharsets.UTF_8);
    }

    static byte[] invalid(Random rnd, int which, Post post, List<String> vocab) {
        String ok = new String(event("edited", post, "hello #" + vocab.get(0)), StandardCharsets.UTF_8);
        String s = switch (which) {
            case 0 -> "{not json";
            case 1 -> ok + " {}"; // trailing data
            case 2 -> ok; // the record key is not user_id (see caller)
            case 3 -> ok.replace("\"type\":\"edited\",", ""); // missing type
            case 4 -> ok.replace("\"edited\"", "\"liked\""); // unknown type
            case 5 -> ok.replace(q(post.id), q(post.id + "!")); // bad id character
            case 6 -> ok.replace(q(post.id), q("p".repeat(65))); // id too long
            case 7 -> new String(event("edited", post, "#" + vocab.get(0) + " " + "a".repeat(2200)), StandardCharsets.UTF_8);
            case 8 -> new String(event("edited", post, caption(rnd, new LinkedHashSet<>(vocab.subList(0, 31)), vocab)),
                    StandardCharsets.UTF_8); // 31 distinct keys
            case 9 -> new String(event("edited", post, "#" + vocab.get(0) + " #" + "b".repeat(101)), StandardCharsets.UTF_8);
            case 10 -> ok.replace("\"unknown\":", "\"pad\":" + q("z".repeat(65 << 10)) + ",\"unknown\":"); // > 64 KiB
            case 11 -> null; // invalid UTF-8, below
            case 12 -> ok.replace("2025-01-02T03:04:05.123Z", "yesterday");
            case 13 -> ok.replace("\"type\":\"edited\"", "\"type\":1");
            case 14 -> ok.replace("\"post_id\":" + q(post.id) + ",", "");
            default -> new String(event("deleted", new Post("u-" + post.user, post.id), null),
                    StandardCharsets.UTF_8); // a delete whose user_id is not the record key
        };
        if (which == 11) {
            byte[] b = ok.getBytes(StandardCharsets.UTF_8);
            byte[] out = new byte[b.length + 2];
            int at = ok.indexOf("hello") + 2;
            System.arraycopy(b, 0, out, 0, at);
            out[at] = (byte) 0xC3;
            out[at + 1] = (byte) 0x28; // not a continuation byte
            System.arraycopy(b, at, out, at + 2, b.length - at);
            return out;
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    static void add(Map<String, Long> counts, Set<String> tags, long d) {
        for (String t : tags) {
            counts.merge(t, d, Long::sum);
        }
    }

    // --- verify ------------------------------------------------------------------

    static int verify(Properties p, String topic, Path expectedFile, Duration wait) throws IOException {
        Map<String, Long> expected = new HashMap<>();
        for (String line : Files.readAllLines(expectedFile)) {
            if (!line.startsWith("#")) {
                String[] kv = line.split("\t");
                expected.put(kv[0], Long.parseLong(kv[1]));
            }
        }
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        Map<String, String> last = new HashMap<>();
        long records = 0;
        long deadline = System.nanoTime() + wait.toNanos();
        List<String> bad = List.of();
        try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
            c.assign(parts);
            c.seekToBeginning(parts);
            while (true) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(500))) {
                    last.put(r.key(), r.value());
                    records++;
                }
                Map<TopicPartition, Long> end = c.endOffsets(parts);
                boolean caughtUp = parts.stream().allMatch(tp -> c.position(tp) >= end.get(tp));
                if (!caughtUp) {
                    continue;
                }
                bad = new ArrayList<>();
                for (Map.Entry<String, Long> e : expected.entrySet()) {
                    String got = last.get(e.getKey());
                    if (!(got == null ? e.getValue() == 0 : got.equals(Long.toString(e.getValue())))) {
                        bad.add(e.getKey() + ": want " + e.getValue() + ", got " + got);
                    }
                }
                for (Map.Entry<String, String> e : last.entrySet()) {
                    if (!expected.containsKey(e.getKey()) && !e.getValue().equals("0")) {
                        bad.add(e.getKey() + ": want none, got " + e.getValue());
                    }
                }
                if (bad.isEmpty() || System.nanoTime() > deadline) {
                    break;
                }
            }
        }
        if (bad.isEmpty()) {
            System.out.println("verify: OK, " + last.size() + " hashtags on " + topic + " (" + records
                    + " records read) match the expected " + expected.size());
            return 0;
        }
        System.out.println("verify: " + bad.size() + " mismatches (" + records + " records read), e.g. "
                + bad.subList(0, Math.min(10, bad.size())));
        return 1;
    }
}
