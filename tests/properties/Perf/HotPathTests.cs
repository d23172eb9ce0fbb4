using DetKafka.Core.Broker;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
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
                        Timers.Cancel(tasks[k]);
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
}
