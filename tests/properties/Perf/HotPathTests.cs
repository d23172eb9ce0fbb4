using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Core.Records;
using DetKafka.Properties.Broker;
using DetKafka.Properties.Protocol;
using FsCheck;
using FsCheck.Fluent;
using Xunit;

namespace DetKafka.Properties.Perf;

/// <summary>
/// The allocation-free hot paths must encode exactly what the plain paths encode: records copied from their
/// source while encoding, reused request and response objects, cached strings.
/// </summary>
public class HotPathTests
{
    private sealed class ArraySource(byte[] bytes) : IRecordsSource
    {
        public void CopyTo(long position, Span<byte> destination) => bytes.AsSpan((int)position, destination.Length).CopyTo(destination);
    }

    private static byte[] Encode(IKafkaMessage message, short version)
    {
        using var writer = new KafkaWriter(16);
        message.Write(writer, version);
        return writer.ToArray();
    }

    private static FetchResponse OnePartition(Action<FetchResponse.PartitionData> records) => new()
    {
        Responses =
        {
            new FetchResponse.FetchableTopicResponse
            {
                Topic = "t",
                Partitions = { Apply(new FetchResponse.PartitionData { PartitionIndex = 3, HighWatermark = 9 }, records) },
            },
        },
    };

    private static FetchResponse.PartitionData Apply(FetchResponse.PartitionData p, Action<FetchResponse.PartitionData> f)
    {
        f(p);
        return p;
    }

    [Fact]
    public void Records_copied_from_their_source_encode_as_the_same_bytes_as_records_in_memory()
    {
        var gen = from bytes in Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>())
                  from start in Gen.Choose(0, bytes.Length)
                  from length in Gen.Choose(0, bytes.Length - start)
                  from version in Gen.Choose(4, 12)
                  select (bytes, start, length, (short)version);
        Prop.ForAll(gen.ToArbitrary(), t =>
        {
            var (bytes, start, length, version) = t;
            var inMemory = OnePartition(p => p.Records = bytes.AsMemory(start, length));
            var fromSource = OnePartition(p => p.RecordsFrom = new RecordsSlice(new ArraySource(bytes), start, length));
            Assert.Equal(Encode(inMemory, version), Encode(fromSource, version));
        }).QuickCheckThrowOnFailure();
    }

    private sealed class Task(List<string> fired, string name) : ITimerTask
    {
        public long TimerStamp { get; set; }
        public void RunTimer() => fired.Add(name);
    }

    /// <summary>Handles and reusable tasks share one queue: live entries fire by (deadline, scheduling order);
    /// a cancelled or rescheduled task's old entry never fires.</summary>
    [Fact]
    public void Timer_tasks_and_handles_fire_in_deadline_then_scheduling_order_and_stale_entries_never_fire()
    {
        // op: 0 schedule a handle, 1 (re)schedule task k, 2 cancel handle k, 3 cancel task k, 4 run due at time k
        var op = from kind in Gen.Choose(0, 4)
                 from k in Gen.Choose(0, 3)
                 from deadline in Gen.Choose(0, 20)
                 select (kind, k, deadline);
        Prop.ForAll(Gen.ListOf(op).ToArbitrary(), ops =>
        {
            var fired = new List<string>();
            var timers = new Timers();
            var handles = new List<TimerHandle>();
            var tasks = Enumerable.Range(0, 4).Select(i => new Task(fired, "task" + i)).ToArray();
            // The model: live entries with their deadline and scheduling order.
            var live = new List<(string Name, long Deadline, long Order)>();
            var expected = new List<string>();
            long order = 0, now = 0;
            foreach (var (kind, k, deadline) in ops)
            {
                switch (kind)
                {
                    case 0:
                        string name = "handle" + handles.Count;
                        handles.Add(timers.Schedule(deadline, () => fired.Add(name)));
                        live.Add((name, deadline, order++));
                        break;
                    case 1:
                        timers.Schedule(deadline, tasks[k]);
                        live.RemoveAll(e => e.Name == "task" + k);
                        live.Add(("task" + k, deadline, order++));
                        break;
                    case 2 when k < handles.Count:
                        handles[k].Cancel();
                        live.RemoveAll(e => e.Name == "handle" + k);
                        break;
                    case 3:
                        timers.Cancel(tasks[k]);
                        live.RemoveAll(e => e.Name == "task" + k);
                        break;
                    case 4:
                        now = Math.Max(now, deadline);
                        var due = live.Where(e => e.Deadline <= now).OrderBy(e => e.Deadline).ThenBy(e => e.Order).ToList();
                        expected.AddRange(due.Select(e => e.Name));
                        live.RemoveAll(e => e.Deadline <= now);
                        timers.RunDue(now);
                        break;
                }
                long next = live.Count == 0 ? long.MaxValue : live.Min(e => e.Deadline);
                Assert.Equal(next, timers.NextDeadlineMs);
            }
            Assert.Equal(expected, fired);
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>The cache decodes exactly as Encoding.UTF8 does (invalid sequences included), whatever was
    /// cached before, and hands back the same instance for bytes it saw last time.</summary>
    [Fact]
    public void The_request_string_cache_decodes_as_utf8_does_and_reuses_what_it_saw()
    {
        var name = Gen.OneOf(
            Gen.Elements("t", "orders", "orders-v2", "client-1", "", "ünïcødé"),
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()).Select(b => System.Text.Encoding.Latin1.GetString(b)));
        var bytes = Gen.OneOf(
            name.Select(n => System.Text.Encoding.UTF8.GetBytes(n)),
            Gen.ArrayOf(ArbMap.Default.GeneratorFor<byte>()),
            Gen.Choose(250, 300).Select(n => Enumerable.Repeat((byte)'x', n).ToArray()));
        Prop.ForAll(Gen.ListOf(bytes).ToArbitrary(), inputs =>
        {
            var cache = new Utf8StringCache();
            foreach (var input in inputs)
            {
                string first = cache.GetOrAdd(input);
                Assert.Equal(System.Text.Encoding.UTF8.GetString(input), first);
                string again = cache.GetOrAdd(input);
                Assert.Equal(first, again);
                if (input.Length <= Utf8StringCache.EntryBytesMax) Assert.Same(first, again);
            }
        }).QuickCheckThrowOnFailure();
    }

    /// <summary>Decoding into an instance that held another request gives exactly what a fresh decode gives.</summary>
    [Fact]
    public void Decoding_into_a_reused_request_equals_a_fresh_decode()
    {
        foreach (short v in RoundTrip.Versions(ApiKey.Produce))
            RoundTrip.ForAll(Gen.Zip(ProduceCodecTests.RequestGen(v), ProduceCodecTests.RequestGen(v)), pair =>
            {
                var reused = Decode(pair.Item1, v, (ref KafkaReader r) => ProduceRequest.Read(ref r, v));
                var second = RoundTrip.Encode(pair.Item2, v);
                var reader = new KafkaReader(second);
                reused.ReadFrom(ref reader, v);
                Assert.True(reader.IsAtEnd);
                RoundTrip.AssertSameFields(Decode(pair.Item2, v, (ref KafkaReader r) => ProduceRequest.Read(ref r, v)), reused, "produce");
            }, maxTest: 20);
        foreach (short v in RoundTrip.Versions(ApiKey.Fetch))
            RoundTrip.ForAll(Gen.Zip(FetchCodecTests.RequestGen(v), FetchCodecTests.RequestGen(v)), pair =>
            {
                var reused = Decode(pair.Item1, v, (ref KafkaReader r) => FetchRequest.Read(ref r, v));
                var second = RoundTrip.Encode(pair.Item2, v);
                var reader = new KafkaReader(second);
                reused.ReadFrom(ref reader, v);
                Assert.True(reader.IsAtEnd);
                RoundTrip.AssertSameFields(Decode(pair.Item2, v, (ref KafkaReader r) => FetchRequest.Read(ref r, v)), reused, "fetch");
            }, maxTest: 20);
    }

    private delegate T Reader<T>(ref KafkaReader reader);

    private static T Decode<T>(IKafkaMessage message, short version, Reader<T> read)
    {
        var reader = new KafkaReader(RoundTrip.Encode(message, version));
        return read(ref reader);
    }

    /// <summary>
    /// Produces and fetches of varying shapes (several topics and partitions, unknown ones, empty records,
    /// offsets out of range) through one broker, whose pooled requests and responses are reused from one to
    /// the next: every answer has exactly the request's shape and the values a simple model predicts.
    /// </summary>
    [Fact]
    public void Pooled_produce_and_fetch_answers_match_a_model_whatever_came_before()
    {
        var topics = new[] { ("a", 2), ("b", 1) };
        var entry = from topic in Gen.Elements("a", "b", "zz")
                    from partition in Gen.Choose(0, 2)
                    from records in Gen.Choose(0, 3) // 0: empty records
                    from offset in Gen.Choose(0, 12)
                    select (topic, partition, records, offset);
        var request = from isFetch in Gen.Elements(false, true)
                      from entries in Gen.ListOf(entry).Select(l => l.Take(5).ToList())
                      from acks in Gen.Elements<short>(-1, 1)
                      select (isFetch, entries, acks);
        Prop.ForAll(Gen.ListOf(request).Select(l => l.Take(25).ToList()).ToArbitrary(), requests =>
        {
            var h = new BrokerHarness();
            var c = h.Connect();
            foreach (var (name, partitions) in topics)
                Assert.Equal(ErrorCode.None, h.Node.CreateTopic(name, partitions, [], false, out _).Error);
            var next = new Dictionary<(string, int), long> { [("a", 0)] = 0, [("a", 1)] = 0, [("b", 0)] = 0 };
            long timestamp = 1_000;
            foreach (var (isFetch, entries, acks) in requests)
            {
                var byTopic = entries.GroupBy(e => e.topic).ToList();
                if (!isFetch)
                {
                    var produce = new ProduceRequest { Acks = acks, TimeoutMs = 30_000 };
                    foreach (var g in byTopic)
                        produce.TopicData.Add(new ProduceRequest.TopicProduceData
                        {
                            Name = g.Key,
                            PartitionData = g.Select(e => new ProduceRequest.PartitionProduceData
                            {
                                Index = e.partition,
                                Records = e.records == 0 ? Array.Empty<byte>()
                                    : BrokerTests.Batch(timestamp++, Enumerable.Range(0, e.records).Select(i => "v" + i).ToArray()),
                            }).ToList(),
                        });
                    var response = h.Call<ProduceResponse>(c, ApiKey.Produce, 9, produce);
                    Assert.Equal(byTopic.Count, response.Responses.Count);
                    for (int t = 0; t < byTopic.Count; t++)
                    {
                        var expected = byTopic[t].ToList();
                        var actual = response.Responses[t];
                        Assert.Equal(byTopic[t].Key, actual.Name);
                        Assert.Equal(expected.Count, actual.PartitionResponses.Count);
                        for (int p = 0; p < expected.Count; p++)
                        {
                            var e = expected[p];
                            var a = actual.PartitionResponses[p];
                            Assert.Equal(e.partition, a.Index);
                            if (!next.TryGetValue((e.topic, e.partition), out long at))
                            {
                                Assert.Equal(ErrorCode.UnknownTopicOrPartition, a.ErrorCode);
                                Assert.Equal(-1, a.BaseOffset);
                            }
                            else if (e.records == 0)
                            {
                                Assert.Equal(ErrorCode.CorruptMessage, a.ErrorCode);
                                Assert.Equal(-1, a.BaseOffset);
                            }
                            else
                            {
                                Assert.Equal(ErrorCode.None, a.ErrorCode);
                                Assert.Null(a.ErrorMessage);
                                Assert.Equal(at, a.BaseOffset);
                                next[(e.topic, e.partition)] = at + e.records;
                            }
                        }
                    }
                }
                else
                {
                    var fetch = new FetchRequest { MaxWaitMs = 0, MinBytes = 1, MaxBytes = 1 << 20, IsolationLevel = (sbyte)(acks == 1 ? 1 : 0) };
                    foreach (var g in byTopic)
                        fetch.Topics.Add(new FetchRequest.FetchTopic
                        {
                            Topic = g.Key,
                            Partitions = g.Select(e => new FetchRequest.FetchPartition { Partition = e.partition, FetchOffset = e.offset, PartitionMaxBytes = 1 << 20 }).ToList(),
                        });
                    var response = h.Call<FetchResponse>(c, ApiKey.Fetch, 12, fetch);
                    Assert.Equal(byTopic.Count, response.Responses.Count);
                    for (int t = 0; t < byTopic.Count; t++)
                    {
                        var expected = byTopic[t].ToList();
                        var actual = response.Responses[t];
                        Assert.Equal(byTopic[t].Key, actual.Topic);
                        Assert.Equal(expected.Count, actual.Partitions.Count);
                        for (int p = 0; p < expected.Count; p++)
                        {
                            var e = expected[p];
                            var a = actual.Partitions[p];
                            Assert.Equal(e.partition, a.PartitionIndex);
                            Assert.Equal(fetch.IsolationLevel == 1, a.AbortedTransactions is { Count: 0 });
                            if (!next.TryGetValue((e.topic, e.partition), out long end))
                            {
                                Assert.Equal(ErrorCode.UnknownTopicOrPartition, a.ErrorCode);
                                Assert.Equal(-1, a.HighWatermark);
                                Assert.Equal(0, a.Records!.Value.Length);
                                continue;
                            }
                            if (e.offset > end)
                            {
                                Assert.Equal(ErrorCode.OffsetOutOfRange, a.ErrorCode);
                                Assert.Equal(0, a.Records!.Value.Length);
                                continue;
                            }
                            Assert.Equal(ErrorCode.None, a.ErrorCode);
                            Assert.Equal(end, a.HighWatermark);
                            var decoded = new List<DecodedRecord>();
                            Assert.Equal(ErrorCode.None, RecordBatchDecoder.Decode(a.Records!.Value.Span, decoded));
                            // Whole batches from the one holding the offset, up to the end.
                            var offsets = decoded.Select(r => r.Offset).ToList();
                            Assert.Equal(offsets.Count == 0 ? [] : Enumerable.Range((int)offsets[0], (int)(end - offsets[0])).Select(o => (long)o), offsets);
                            if (e.offset < end) Assert.True(offsets[0] <= e.offset && offsets[0] > e.offset - 3);
                            else Assert.Empty(offsets);
                        }
                    }
                }
            }
        }).QuickCheckThrowOnFailure();
    }
}
