using System.Collections;
using System.Reflection;
using DetKafka.Core.Protocol;
using FsCheck.Fluent;
using Xunit;
using static DetKafka.Properties.Protocol.RoundTrip;

namespace DetKafka.Properties.Protocol;

/// <summary>
/// Properties over every generated message at every version, driven by <see cref="MessageSchema"/> (which the
/// generator emits from the specs), so a new spec is covered without touching this file:
/// random messages round-trip byte for byte; a field absent from a version leaves the encoding unchanged
/// whatever its value, and a field present changes it; every prefix of an encoding fails cleanly.
/// </summary>
public class GeneratedCodecTests
{
    public static TheoryData<short> ApiKeys()
    {
        var data = new TheoryData<short>();
        foreach (var api in MessageSchema.Apis) data.Add((short)api.Key);
        return data;
    }

    [Fact]
    public void The_schema_the_codec_and_the_header_rules_agree()
    {
        Assert.NotEmpty(MessageSchema.Apis);
        foreach (var api in MessageSchema.Apis)
        {
            Assert.Equal((api.MinVersion, api.MaxVersion), MessageCodec.CodecRange(api.Key));
            Assert.Equal(api.FirstFlexibleVersion, MessageCodec.FirstFlexibleVersion(api.Key));
            for (short v = api.MinVersion; v <= api.MaxVersion; v++)
                Assert.Equal(v >= api.FirstFlexibleVersion, ApiVersionTable.IsFlexible(api.Key, v));
            Assert.True(typeof(IKafkaMessage).IsAssignableFrom(api.Request));
            Assert.True(typeof(IKafkaMessage).IsAssignableFrom(api.Response));
        }
        // Every public property of every generated class is either a spec field or one of the generated extras.
        foreach (var owner in MessageSchema.Fields.Select(f => f.Owner).Distinct())
            foreach (var p in owner.GetProperties(BindingFlags.Public | BindingFlags.Instance))
                Assert.True(p.Name is "UnknownTaggedFields" || p.Name.EndsWith("From", StringComparison.Ordinal)
                            || MessageSchema.Fields.Any(f => f.Owner == owner && f.Name == p.Name),
                    $"{owner.Name}.{p.Name} is not in the schema");
    }

    [Theory]
    [MemberData(nameof(ApiKeys))]
    public void Random_messages_round_trip_at_every_version(short key)
    {
        var api = MessageSchema.Apis.Single(a => (short)a.Key == key);
        for (short v = api.MinVersion; v <= api.MaxVersion; v++)
        {
            short version = v;
            foreach (var (type, isRequest) in new[] { (api.Request, true), (api.Response, false) })
                ForAll(Gen.Choose(0, int.MaxValue), seed =>
                {
                    var message = (IKafkaMessage)new MessageBuilder(new Random(seed), version, maxElements: 3).Build(type);
                    Check(api.Key, version, message, isRequest, truncationSamples: 8);
                }, maxTest: 25);
        }
    }

    [Theory]
    [MemberData(nameof(ApiKeys))]
    public void A_field_is_on_the_wire_exactly_in_the_versions_its_spec_gives(short key)
    {
        var api = MessageSchema.Apis.Single(a => (short)a.Key == key);
        int checkedPresent = 0, checkedAbsent = 0;
        foreach (var field in MessageSchema.Fields.Where(f => f.Key == api.Key))
        {
            bool isRequest = field.Message == api.Request;
            for (short v = api.MinVersion; v <= api.MaxVersion; v++)
            {
                // One element in every list, so every struct of the message exists once.
                var builder = new MessageBuilder(new Random(v * 7919 + field.Name.Length), v, maxElements: 1, minElements: 1);
                var message = (IKafkaMessage)builder.Build(field.Message);
                byte[] before = Encode(message, v);
                var owner = FindInstance(message, field.Owner);
                bool inVersion = v >= field.MinVersion && v <= field.MaxVersion;
                if (owner is null)
                {
                    // Its struct is in no list this version has, so neither is the field.
                    Assert.False(inVersion, $"{field.Owner.Name} not reachable in {field.Message.Name} v{v}");
                    checkedAbsent++;
                    continue;
                }
                var property = field.Owner.GetProperty(field.Name)!;
                object? old = property.GetValue(owner);
                property.SetValue(owner, builder.Different(property.PropertyType, old, field));
                byte[] after = Encode(message, v);
                if (inVersion)
                {
                    Assert.False(before.AsSpan().SequenceEqual(after), $"{field.Message.Name} v{v}: changing {field.Owner.Name}.{field.Name} left the encoding unchanged");
                    checkedPresent++;
                }
                else
                {
                    Assert.True(before.AsSpan().SequenceEqual(after), $"{field.Message.Name} v{v}: {field.Owner.Name}.{field.Name} is not in this version but changed the encoding");
                    checkedAbsent++;
                }
                _ = Decode(api.Key, v, after, isRequest);
            }
        }
        Assert.True(checkedPresent > 0);
        Assert.True(checkedAbsent > 0 || MessageSchema.Fields.Where(f => f.Key == api.Key).All(f => f.MinVersion == api.MinVersion && f.MaxVersion == api.MaxVersion));
    }

    [Theory]
    [MemberData(nameof(ApiKeys))]
    public void VisitErrorCodes_hands_over_every_error_code_the_message_holds(short key)
    {
        var api = MessageSchema.Apis.Single(a => (short)a.Key == key);
        for (short v = api.MinVersion; v <= api.MaxVersion; v++)
        {
            short version = v;
            foreach (var type in new[] { api.Request, api.Response })
                ForAll(Gen.Choose(0, int.MaxValue), seed =>
                {
                    var message = (IKafkaMessage)new MessageBuilder(new Random(seed), version, maxElements: 3).Build(type);
                    var visited = new Collector();
                    message.VisitErrorCodes(visited);
                    var expected = new List<ErrorCode>();
                    CollectByReflection(message, expected);
                    Assert.Equal(expected.Order(), visited.Codes.Order());
                }, maxTest: 10);
        }
    }

    private sealed class Collector : IErrorCodeVisitor
    {
        public List<ErrorCode> Codes { get; } = new();
        public void Visit(ErrorCode code) => Codes.Add(code);
    }

    /// <summary>Every ErrorCode-typed property in a message's object graph, found the slow way.</summary>
    private static void CollectByReflection(object node, List<ErrorCode> into)
    {
        foreach (var p in node.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            object? value = p.GetValue(node);
            if (value is ErrorCode code) into.Add(code);
            else if (value is IList list && !IsScalarList(p.PropertyType))
            {
                foreach (object? e in list)
                    if (e is not null) CollectByReflection(e, into);
            }
            else if (value is not null && IsGenerated(value.GetType())) CollectByReflection(value, into);
        }
    }

    [Fact]
    public void Unknown_tagged_fields_survive_a_decode_and_re_encode()
    {
        // A flexible Produce v9 request whose top-level tagged section carries tags 3 and 7 no spec declares.
        var message = new Core.Protocol.Messages.ProduceRequest { Acks = -1, TimeoutMs = 5 };
        byte[] plain = Encode(message, 9);
        Assert.Equal(0, plain[^1]); // empty tagged section
        byte[] tagged = [.. plain[..^1], 2, 3, 2, 0xAB, 0xCD, 7, 0];
        var decoded = (Core.Protocol.Messages.ProduceRequest)Decode(ApiKey.Produce, 9, tagged, isRequest: true);
        Assert.Equal([3u, 7u], decoded.UnknownTaggedFields!.Select(t => t.Tag));
        Assert.Equal(tagged, Encode(decoded, 9));

        // Out of order or overrunning tags are refused.
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.Produce, 9, [.. plain[..^1], 2, 7, 0, 3, 0], isRequest: true));
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.Produce, 9, [.. plain[..^1], 1, 3, 9, 0], isRequest: true));
    }

    [Fact]
    public void A_declared_tagged_field_is_sent_only_when_not_at_its_default_and_its_size_is_checked()
    {
        var response = new Core.Protocol.Messages.CreateTopicsResponse { Topics = [new() { Name = "t" }] };
        byte[] quiet = Encode(response, 5);
        response.Topics[0].TopicConfigErrorCode = ErrorCode.PolicyViolation;
        byte[] loud = Encode(response, 5);
        Assert.Equal(quiet.Length + 4, loud.Length); // tag 0, size 2, int16
        var decoded = (Core.Protocol.Messages.CreateTopicsResponse)Decode(ApiKey.CreateTopics, 5, loud, isRequest: false);
        Assert.Equal(ErrorCode.PolicyViolation, decoded.Topics[0].TopicConfigErrorCode);

        // Claim 3 bytes for the int16: the value takes 2, so the decoder refuses it.
        // The topic's tagged section ends the encoding but for the top-level one: count 1, tag 0, size 2, value.
        int size = loud.Length - 4;
        Assert.Equal([1, 0, 2], loud[(size - 2)..(size + 1)]);
        byte[] lying = [.. loud[..size], 3, .. loud[(size + 1)..(size + 3)], 0, .. loud[(size + 3)..]];
        Assert.Throws<ProtocolException>(() => Decode(ApiKey.CreateTopics, 5, lying, isRequest: false));
    }

    /// <summary>The first instance of <paramref name="type"/> in the object graph of a message (depth first).</summary>
    private static object? FindInstance(object root, Type type)
    {
        if (root.GetType() == type) return root;
        foreach (var p in root.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            object? value = p.GetValue(root);
            if (value is IList list && !IsScalarList(p.PropertyType))
            {
                foreach (object? e in list)
                    if (e is not null && FindInstance(e, type) is { } found) return found;
            }
            else if (value is not null && IsGenerated(value.GetType()) && FindInstance(value, type) is { } found)
            {
                return found;
            }
        }
        return null;
    }

    private static bool IsGenerated(Type t) => t.IsClass && t.Namespace == "DetKafka.Core.Protocol.Messages";

    private static bool IsScalarList(Type t) => t.IsGenericType && !IsGenerated(t.GetGenericArguments()[0]);

    /// <summary>
    /// Builds a random message of a generated type for one version: fields the version has get random values
    /// (null only where the version allows it), fields it lacks keep their defaults, so the round trip keeps
    /// them all.
    /// </summary>
    private sealed class MessageBuilder(Random random, short version, int maxElements, int minElements = 0)
    {
        /// <summary>With a minimum of one element, nothing is null either: every struct of the message exists.</summary>
        private readonly bool _allowNull = minElements == 0;

        private static readonly string[] Pieces = ["a", "z", "0", "-", ".", "é", "日", "😀"];

        public object Build(Type type)
        {
            object instance = Activator.CreateInstance(type)!;
            foreach (var field in MessageSchema.Fields.Where(f => f.Owner == type))
            {
                if (version < field.MinVersion || version > field.MaxVersion) continue;
                var property = type.GetProperty(field.Name)!;
                property.SetValue(instance, Value(property.PropertyType, field, instance));
            }
            return instance;
        }

        private bool MayBeNull(MessageSchema.FieldSchema f) => f.NullableMin >= 0 && version >= f.NullableMin && version <= f.NullableMax;

        private object? Value(Type type, MessageSchema.FieldSchema field, object owner)
        {
            if (_allowNull && MayBeNull(field) && random.Next(5) == 0) return null;
            var underlying = Nullable.GetUnderlyingType(type) ?? type;
            if (underlying.IsGenericType && underlying.GetGenericTypeDefinition() == typeof(List<>))
            {
                var elementType = underlying.GetGenericArguments()[0];
                var list = (IList)Activator.CreateInstance(underlying)!;
                int count = random.Next(minElements, maxElements + 1);
                // Metadata v0: an empty topic array means "all topics" and reads back as null.
                if (field.Name == "Topics" && owner is Core.Protocol.Messages.MetadataRequest && version == 0) count = Math.Max(1, count);
                for (int i = 0; i < count; i++) list.Add(Element(elementType));
                return list;
            }
            if (IsGenerated(underlying)) return Build(underlying);
            return Scalar(underlying);
        }

        private object Element(Type type)
            => IsGenerated(type) ? Build(type) : Scalar(Nullable.GetUnderlyingType(type) ?? type);

        private object Scalar(Type type)
        {
            if (type.IsEnum) return Enum.ToObject(type, Scalar(Enum.GetUnderlyingType(type)));
            if (type == typeof(bool)) return random.Next(2) == 1;
            if (type == typeof(sbyte)) return (sbyte)random.Next(sbyte.MinValue, sbyte.MaxValue + 1);
            if (type == typeof(short)) return (short)random.Next(short.MinValue, short.MaxValue + 1);
            if (type == typeof(ushort)) return (ushort)random.Next(ushort.MaxValue + 1);
            if (type == typeof(int)) return random.Next(4) == 0 ? int.MinValue + random.Next(3) : random.Next(-2, int.MaxValue);
            if (type == typeof(uint)) return (uint)random.NextInt64(uint.MaxValue + 1L);
            if (type == typeof(long)) return random.NextInt64(long.MinValue, long.MaxValue);
            if (type == typeof(double)) return random.NextDouble() * 1e6;
            if (type == typeof(Guid))
            {
                Span<byte> b = stackalloc byte[16];
                random.NextBytes(b);
                return new Guid(b);
            }
            if (type == typeof(string))
            {
                int n = random.Next(0, random.Next(10) == 0 ? 200 : 8);
                return string.Concat(Enumerable.Range(0, n).Select(_ => Pieces[random.Next(Pieces.Length)]));
            }
            if (type == typeof(ReadOnlyMemory<byte>))
            {
                int offset = random.Next(3), length = random.Next(40);
                var bytes = new byte[offset + length + 2];
                random.NextBytes(bytes);
                return new ReadOnlyMemory<byte>(bytes, offset, length);
            }
            throw new InvalidOperationException($"no generator for {type}");
        }

        /// <summary>A value of <paramref name="type"/> different from <paramref name="old"/> (never null, so a
        /// nullable field changes in every version).</summary>
        public object Different(Type type, object? old, MessageSchema.FieldSchema field)
        {
            var underlying = Nullable.GetUnderlyingType(type) ?? type;
            if (underlying.IsGenericType && underlying.GetGenericTypeDefinition() == typeof(List<>))
            {
                var list = (IList)Activator.CreateInstance(underlying)!;
                int count = (old as IList)?.Count + 1 ?? 1;
                var elementType = underlying.GetGenericArguments()[0];
                for (int i = 0; i < count; i++) list.Add(Element(elementType));
                return list;
            }
            for (int attempt = 0; attempt < 100; attempt++)
            {
                object candidate = IsGenerated(underlying) ? Build(underlying) : Scalar(underlying);
                if (IsGenerated(underlying))
                {
                    // A struct differs when any of its fields in this version does; make sure one does.
                    var inner = MessageSchema.Fields.FirstOrDefault(f => f.Owner == underlying && version >= f.MinVersion && version <= f.MaxVersion);
                    if (inner is null) return candidate;
                    var p = underlying.GetProperty(inner.Name)!;
                    var current = old is null ? null : p.GetValue(old);
                    p.SetValue(candidate, Different(p.PropertyType, current, inner));
                    return candidate;
                }
                if (!Same(candidate, old)) return candidate;
            }
            throw new InvalidOperationException($"no value different from {old} for {field.Name}");
        }

        private static bool Same(object candidate, object? old) => candidate switch
        {
            ReadOnlyMemory<byte> m => old is ReadOnlyMemory<byte> o && m.Span.SequenceEqual(o.Span),
            _ => candidate.Equals(old),
        };
    }
}
