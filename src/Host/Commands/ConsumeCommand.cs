using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Protocol.Messages;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka consume TOPIC</c>: print records, kcat -C style, with the project's own consumer: every
/// partition (or the chosen ones) assigned, or with <c>--group</c> as a member of a consumer group (kcat -G), which
/// starts from the group's committed offsets and commits what it printed.</summary>
public static class ConsumeCommand
{
    public const string DefaultPrintFormat = @"%s\n";

    public static Command Create()
    {
        var command = new Command("consume", "Print a topic's records (all partitions, or one), from an offset or a time.");
        var topic = new Argument<string>("topic") { Description = "Topic to consume" };
        var offset = new Option<string>("--offset", "-o")
        {
            Description = "Where to start: beginning, end, N (offset), -N (N before the end), @TIMESTAMP_MS (first record at or after it)",
            HelpName = "where",
            DefaultValueFactory = _ => "beginning",
        };
        var count = new Option<long>("--count", "-c") { Description = "Stop after this many records (0: no limit)", HelpName = "n" };
        var exitAtEnd = new Option<bool>("--exit", "-e") { Description = "Stop once every partition's end (high watermark) is reached" };
        var partition = new Option<int[]>("--partition", "-p") { Description = "Partition to read (repeatable; default all)", HelpName = "n" };
        var printFormat = new Option<string>("--print-format", "-f")
        {
            Description = @"kcat-style format: %t topic, %p partition, %o offset, %k key, %s value, %T timestamp, %h headers, "
                + @"%K key length, %S value length, \n \t \\ escapes (ignored with --format json)",
            HelpName = "fmt",
            DefaultValueFactory = _ => DefaultPrintFormat,
        };
        var group = new Option<string>("--group", "-G")
        {
            Description = "Consume as a member of this consumer group: start from its committed offsets (else --offset beginning|end), commit what was printed",
            HelpName = "group",
        };
        command.Arguments.Add(topic);
        command.Options.Add(group);
        command.Options.Add(offset);
        command.Options.Add(count);
        command.Options.Add(exitAtEnd);
        command.Options.Add(partition);
        command.Options.Add(printFormat);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p => Run(p, flags, p.GetValue(topic)!, p.GetValue(offset)!, p.GetValue(count),
            p.GetValue(exitAtEnd), p.GetValue(partition) ?? [], p.GetValue(printFormat)!, p.GetValue(group))));
        return command;
    }

    private enum StartKind { Beginning, End, Offset, FromEnd, Timestamp }

    private static (StartKind Kind, long Value) ParseOffset(string value)
    {
        var v = value.Trim();
        if (v is "beginning" or "earliest" or "oldest" or "start") return (StartKind.Beginning, 0);
        if (v is "end" or "latest" or "newest") return (StartKind.End, 0);
        if ((v.StartsWith('@') || v.StartsWith("s@", StringComparison.Ordinal))
            && long.TryParse(v[(v.IndexOf('@') + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out long ts))
            return (StartKind.Timestamp, ts);
        if (long.TryParse(v, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long n))
            return n < 0 ? (StartKind.FromEnd, -n) : (StartKind.Offset, n);
        throw new CliException($"--offset: '{value}' is not beginning, end, N, -N or @TIMESTAMP_MS");
    }

    private static int Run(ParseResult p, ClientFlags flags, string name, string offsetText, long count, bool exitAtEnd,
        int[] partitions, string printFormat, string? groupId)
    {
        var output = flags.Output(p);
        var start = ParseOffset(offsetText);
        if (count < 0) throw new CliException("--count: must not be negative");
        var format = PrintFormat.Parse(printFormat);
        if (groupId is not null)
        {
            if (partitions.Length > 0) throw new CliException("--partition: a group member gets its partitions from the group");
            if (start.Kind is not (StartKind.Beginning or StartKind.End))
                throw new CliException("--offset: with --group, where a partition without a commit starts: beginning or end");
        }

        using var session = flags.Open(p);
        var metadata = session.Metadata([name]);
        var t = metadata.Topics.FirstOrDefault(x => x.Name == name);
        if (t is null || t.ErrorCode != ErrorCode.None)
            throw new CliException($"topic '{name}': {CliSession.ErrorName(t?.ErrorCode ?? ErrorCode.UnknownTopicOrPartition)}"
                + (t?.ErrorCode is null or ErrorCode.UnknownTopicOrPartition ? " (it does not exist)" : ""));
        int partitionCount = t.Partitions.Count;
        var assigned = (partitions.Length == 0 ? Enumerable.Range(0, partitionCount) : partitions.Distinct()).ToList();
        foreach (var x in assigned)
            if (x < 0 || x >= partitionCount) throw new CliException($"--partition: topic '{name}' has no partition {x} (it has {partitionCount})");
        var tps = assigned.Order().Select(x => new TopicPartition(name, x)).ToList();

        var startOffsets = new Dictionary<TopicPartition, long>();
        Dictionary<(string, int), long>? ends = null;
        if (start.Kind is StartKind.Offset)
            foreach (var tp in tps) startOffsets[tp] = start.Value;
        else
        {
            var earliest = TopicCommand.ListOffsets(session, metadata, ListOffsetsRequest.EarliestTimestamp);
            ends = TopicCommand.ListOffsets(session, metadata, ListOffsetsRequest.LatestTimestamp);
            Dictionary<(string, int), long>? byTime = start.Kind == StartKind.Timestamp
                ? TopicCommand.ListOffsets(session, metadata, start.Value)
                : null;
            foreach (var tp in tps)
            {
                long first = earliest.GetValueOrDefault((name, tp.Partition), 0);
                long end = ends.GetValueOrDefault((name, tp.Partition), 0);
                startOffsets[tp] = start.Kind switch
                {
                    StartKind.Beginning => Math.Max(0, first),
                    StartKind.End => Math.Max(0, end),
                    StartKind.FromEnd => Math.Max(first, end - start.Value),
                    // No record at or after the time: start at the end.
                    _ => byTime!.GetValueOrDefault((name, tp.Partition), -1) is var o and >= 0 ? o : end,
                };
            }
        }

        var consumer = new Consumer(session.Client, new ConsumerOptions
        {
            AutoOffsetReset = groupId is not null && start.Kind == StartKind.End ? OffsetResetPolicy.Latest : OffsetResetPolicy.Earliest,
        });
        GroupMembership? membership = null;
        if (groupId is null)
        {
            consumer.Assign(tps, startOffsets);
        }
        else
        {
            // The member finds its coordinator through the topic's metadata, which the client tracks only for topics it knows.
            session.Client.AddTopic(name);
            membership = new GroupMembership(session.Client, consumer, name, new GroupOptions { GroupId = groupId, SessionTimeoutMs = 10_000 });
            session.RunUntil(() => membership.IsStable, $"joining group '{groupId}'");
            tps = membership.Assignment.ToList();
        }
        session.Driver.PollNow();

        using var stop = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            stop.Cancel();
        });

        long printed = 0;
        string? failure = null;
        consumer.PartitionError = (tp, error, message) => failure ??= $"{tp}: {CliSession.Describe(error, message)}";
        var writer = output.Writer;
        var sb = new StringBuilder();
        bool AtEnd() => consumer.BufferedRecords == 0 && (membership?.Assignment ?? tps).All(tp =>
            consumer.HighWatermark(tp) >= 0 && consumer.Position(tp) is { } pos && pos >= consumer.HighWatermark(tp));

        // A group member commits the positions of what it printed (commit after process): after each batch, and
        // once more before it leaves the group.
        // Not the consumer's position: it runs ahead of what was printed by whatever sits in its buffer.
        int commitsInFlight = 0;
        string? commitFailure = null;
        var printedUpTo = new Dictionary<TopicPartition, long>();
        void CommitPrinted()
        {
            if (membership is null || !membership.IsStable) return;
            var offsets = new Dictionary<TopicPartition, long>();
            foreach (var tp in membership.Assignment)
                if (printedUpTo.TryGetValue(tp, out long next)) offsets[tp] = next;
            if (offsets.Count == 0) return;
            if (membership.Commit(offsets, e =>
                {
                    commitsInFlight--;
                    if (e != ErrorCode.None && e is not (ErrorCode.RebalanceInProgress or ErrorCode.IllegalGeneration or ErrorCode.UnknownMemberId))
                        commitFailure ??= $"commit: {CliSession.ErrorName(e)}";
                }))
                commitsInFlight++;
        }

        while (!stop.IsCancellationRequested)
        {
            if (failure is not null) throw new CliException(failure);
            var batch = consumer.TakeRecords(count > 0 ? (int)Math.Min(int.MaxValue, count - printed) : int.MaxValue);
            foreach (var r in batch)
            {
                if (output.IsJson)
                    writer.WriteLine(CliOutput.JsonLine(new
                    {
                        topic = r.Partition.Topic,
                        partition = r.Partition.Partition,
                        offset = r.Offset,
                        timestamp = r.Timestamp,
                        key = r.Key is null ? null : Encoding.UTF8.GetString(r.Key),
                        value = r.Value is null ? null : Encoding.UTF8.GetString(r.Value),
                        headers = (r.Headers ?? []).Select(h => new { key = h.Key, value = h.Value is null ? null : Encoding.UTF8.GetString(h.Value) }),
                    }));
                else
                {
                    sb.Clear();
                    format.Append(sb, r);
                    writer.Write(sb.ToString());
                }
                printed++;
                printedUpTo[r.Partition] = r.Offset + 1;
            }
            writer.Flush();
            if (batch.Count > 0) CommitPrinted();
            if (count > 0 && printed >= count) break;
            if (exitAtEnd && (membership is null || membership.IsStable) && AtEnd()) break;
            // Taking records made room in the consumer's buffer: poll it now so it fetches again (nothing else
            // would wake it: it has no timer while its buffer is full).
            session.Driver.PollNow();
            // Wait for the network only when there was nothing to print.
            session.Driver.Step(batch.Count > 0 ? 0 : 100_000);
        }
        if (membership is not null)
        {
            CommitPrinted();
            session.RunUntil(() => commitsInFlight == 0, "committing offsets");
            membership.Close();
            session.Driver.PollNow();
            if (commitFailure is not null) throw new CliException(commitFailure);
        }
        return 0;
    }
}

/// <summary>kcat's -f format: literal text, %-tokens and backslash escapes, parsed once.</summary>
public sealed class PrintFormat
{
    private readonly List<(char Token, string? Literal)> _parts;

    private PrintFormat(List<(char, string?)> parts) => _parts = parts;

    public static PrintFormat Parse(string format)
    {
        var parts = new List<(char, string?)>();
        var literal = new StringBuilder();
        void Flush()
        {
            if (literal.Length == 0) return;
            parts.Add(('\0', literal.ToString()));
            literal.Clear();
        }
        for (int i = 0; i < format.Length; i++)
        {
            char c = format[i];
            if (c == '\\' && i + 1 < format.Length)
            {
                char e = format[++i];
                literal.Append(e switch { 'n' => '\n', 't' => '\t', 'r' => '\r', '0' => '\0', _ => e });
                continue;
            }
            if (c == '%' && i + 1 < format.Length)
            {
                char token = format[++i];
                if (token == '%')
                {
                    literal.Append('%');
                    continue;
                }
                if ("tpoksTKSh".IndexOf(token) < 0) throw new CliException($"--print-format: unknown token %{token}");
                Flush();
                parts.Add((token, null));
                continue;
            }
            literal.Append(c);
        }
        Flush();
        return new PrintFormat(parts);
    }

    public void Append(StringBuilder sb, ConsumedRecord r)
    {
        foreach (var (token, literal) in _parts)
        {
            switch (token)
            {
                case '\0': sb.Append(literal); break;
                case 't': sb.Append(r.Partition.Topic); break;
                case 'p': sb.Append(r.Partition.Partition.ToString(CultureInfo.InvariantCulture)); break;
                case 'o': sb.Append(r.Offset.ToString(CultureInfo.InvariantCulture)); break;
                case 'T': sb.Append(r.Timestamp.ToString(CultureInfo.InvariantCulture)); break;
                case 'k': if (r.Key is not null) sb.Append(Encoding.UTF8.GetString(r.Key)); break;
                case 's': if (r.Value is not null) sb.Append(Encoding.UTF8.GetString(r.Value)); break;
                case 'K': sb.Append((r.Key?.Length ?? -1).ToString(CultureInfo.InvariantCulture)); break;
                case 'S': sb.Append((r.Value?.Length ?? -1).ToString(CultureInfo.InvariantCulture)); break;
                case 'h':
                    sb.Append(string.Join(",", (r.Headers ?? []).Select(h => h.Key + "=" + (h.Value is null ? "" : Encoding.UTF8.GetString(h.Value)))));
                    break;
            }
        }
    }
}
