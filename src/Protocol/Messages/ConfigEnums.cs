namespace DetKafka.Core.Protocol.Messages;

// Numbers shared by the config APIs (DescribeConfigs, AlterConfigs, IncrementalAlterConfigs, CreateTopics).
// All travel as int8. A decoder keeps whatever number arrives, so a value missing here still round-trips.

/// <summary>The kind of resource a config belongs to (Kafka's ConfigResource.Type).</summary>
public enum ConfigResourceType : sbyte
{
    Unknown = 0,
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
    ClientMetrics = 16,
    Group = 32,
}

/// <summary>Where a config value comes from. DescribeConfigs v0 has no such field; -1 stands for "not sent".</summary>
public enum ConfigSource : sbyte
{
    Unknown = 0,
    TopicConfig = 1,
    DynamicBrokerConfig = 2,
    DynamicDefaultBrokerConfig = 3,
    StaticBrokerConfig = 4,
    DefaultConfig = 5,
    DynamicBrokerLoggerConfig = 6,
    ClientMetricsConfig = 7,
    GroupConfig = 8,
}

/// <summary>The data type of a config, reported by DescribeConfigs v3+.</summary>
public enum ConfigType : sbyte
{
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// <summary>What IncrementalAlterConfigs does with one config entry.</summary>
public enum AlterConfigOpType : sbyte
{
    Set = 0,
    Delete = 1,
    Append = 2,
    Subtract = 3,
}
