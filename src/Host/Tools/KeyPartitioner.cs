namespace DetKafka.Host.Tools;

/// <summary>
/// The Java client's default partitioner for keyed records: murmur2 of the key bytes, sign bit cleared, modulo the
/// partition count. Records with the same key land on the same partition as with the Java producer (and with
/// librdkafka's murmur2_random partitioner), so keyed data written by `detkafka produce` mixes with theirs.
/// </summary>
public static class KeyPartitioner
{
    public static int Partition(ReadOnlySpan<byte> key, int partitions) => (Murmur2(key) & 0x7fffffff) % partitions;

    /// <summary>Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2): seed 0x9747b28c, little-endian words.</summary>
    public static int Murmur2(ReadOnlySpan<byte> data)
    {
        const uint m = 0x5bd1e995;
        const int r = 24;
        int length = data.Length;
        uint h = 0x9747b28c ^ (uint)length;
        int words = length / 4;
        for (int i = 0; i < words; i++)
        {
            int at = i * 4;
            uint k = data[at] | ((uint)data[at + 1] << 8) | ((uint)data[at + 2] << 16) | ((uint)data[at + 3] << 24);
            k *= m;
            k ^= k >> r;
            k *= m;
            h *= m;
            h ^= k;
        }
        int tail = words * 4;
        switch (length % 4)
        {
            case 3:
                h ^= (uint)data[tail + 2] << 16;
                goto case 2;
            case 2:
                h ^= (uint)data[tail + 1] << 8;
                goto case 1;
            case 1:
                h ^= data[tail];
                h *= m;
                break;
        }
        h ^= h >> 13;
        h *= m;
        h ^= h >> 15;
        return (int)h;
    }
}
