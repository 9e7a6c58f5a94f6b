// Prints every broker config Apache Kafka defines, as JSON: name, type, default (as DescribeConfigs
// shows it), dynamic update mode and documentation. Run by kafka-broker-configs.ts with the reference
// Kafka's classpath (scripts/reference-kafka); reads Kafka's own definitions, copies none of its code.
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.common.config.ConfigDef;

public class KafkaBrokerConfigs {
  static String json(String s) {
    if (s == null) return "null";
    StringBuilder b = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      switch (c) {
        case '"': b.append("\\\""); break;
        case '\\': b.append("\\\\"); break;
        case '\n': b.append("\\n"); break;
        case '\r': b.append("\\r"); break;
        case '\t': b.append("\\t"); break;
        default:
          if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); else b.append(c);
      }
    }
    return b.append('"').toString();
  }

  public static void main(String[] args) {
    ConfigDef def = kafka.server.KafkaConfig.configDef();
    Map<String, String> modes = org.apache.kafka.server.config.DynamicBrokerConfig.dynamicConfigUpdateModes();
    Map<String, ConfigDef.ConfigKey> keys = new TreeMap<>(def.configKeys());
    StringBuilder out = new StringBuilder("[\n");
    boolean first = true;
    for (ConfigDef.ConfigKey k : keys.values()) {
      // Internal configs (defineInternal) are for Kafka's own tests; DescribeConfigs never lists them.
      if (k.internalConfig) continue;
      String dflt = null;
      if (k.hasDefault() && k.defaultValue != null) dflt = ConfigDef.convertToString(k.defaultValue, k.type);
      if (!first) out.append(",\n");
      first = false;
      out.append("{\"name\":").append(json(k.name))
          .append(",\"type\":").append(json(k.type.name()))
          .append(",\"default\":").append(json(dflt))
          .append(",\"dynamic\":").append(json(modes.getOrDefault(k.name, "read-only")))
          .append(",\"doc\":").append(json(k.documentation))
          .append('}');
    }
    out.append("\n]\n");
    System.out.print(out);
  }
}
