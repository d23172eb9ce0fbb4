using System.CommandLine;
using System.Text;
using DetKafka.Core.Client;
using DetKafka.Core.Protocol;
using DetKafka.Core.Records;
using DetKafka.Host.Tools;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka produce TOPIC</c>: one record per line of stdin, kcat -P style, through the project's own
/// producer. A key separator splits each line into key and value; headers are added to every record.</summary>
public static class ProduceCommand
{
    public static Command Create(Func<TextReader>? input = null)
    {
        var command = new Command("produce", "Produce one record per line of standard input to a topic.");
        var topic = new Argument<string>("topic") { Description = "Topic to produce to" };
        var keySeparator = new Option<string>("--key-separator", "-K")
        {
            Description = "Split each line at the first SEP into key and value (no separator: the line is the value, key null)",
            HelpName = "sep",
        };
        var headers = new Option<string[]>("--header", "-H") { Description = "Header key=value on every record (repeatable)", HelpName = "key=value" };
        var acks = new Option<string>("--acks", "-a")
        {
            Description = "all (-1), 1 or 0",
            HelpName = "acks",
            DefaultValueFactory = _ => "all",
        };
        var compression = new Option<string>("--compression", "-z")
        {
            Description = "Record batch compression codec, by name (what the client supports: none, gzip)",
            HelpName = "codec",
            DefaultValueFactory = _ => "none",
        };
        var partition = new Option<int>("--partition", "-p")
        {
            Description = "Partition to write to (-1: by key as the Java client does, murmur2; round robin without a key)",
            HelpName = "n",
            DefaultValueFactory = _ => -1,
        };
        command.Arguments.Add(topic);
        command.Options.Add(keySeparator);
        command.Options.Add(headers);
        command.Options.Add(acks);
        command.Options.Add(compression);
        command.Options.Add(partition);
        var flags = ClientFlags.AddTo(command);
        command.SetAction(parse => CliOutput.Run(parse, p =>
        {
            var output = flags.Output(p);
            var name = p.GetValue(topic)!;
            short ack = p.GetValue(acks)!.Trim().ToLowerInvariant() switch
            {
                "all" or "-1" => -1,
                "1" => 1,
                "0" => 0,
                var other => throw new CliException($"--acks: '{other}' is not all, -1, 1 or 0"),
            };
            var codecName = p.GetValue(compression)!.Trim();
            if (!Enum.TryParse<CompressionCodec>(codecName, ignoreCase: true, out var codec) || int.TryParse(codecName, out _))
                throw new CliException($"--compression: '{codecName}' is not a codec name (none, gzip, snappy, lz4, zstd)");
            var recordHeaders = TopicCommand.KeyValues("--header", p.GetValue(headers))
                .Select(kv => new RecordHeader(kv.Key, Encoding.UTF8.GetBytes(kv.Value))).ToList();
            var options = new ProducerOptions { Acks = ack, Compression = codec, LingerMs = 5 };
            try
            {
                options.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CliException($"--compression: {codecName} is not supported by this client ({e.Message})");
            }
            var separator = p.GetValue(keySeparator);
            if (separator is { Length: 0 }) throw new CliException("--key-separator: empty");
            int part = p.GetValue(partition);

            using var session = flags.Open(p, allowAutoTopicCreation: true);
            var producer = new Producer(session.Client, options);
            session.Client.AddTopic(name);
            session.RunUntil(() => session.Client.Metadata.PartitionCount(name) > 0
                || session.Client.Metadata.TopicError(name) is not (ErrorCode.None or ErrorCode.LeaderNotAvailable), "metadata");
            if (session.Client.Metadata.PartitionCount(name) <= 0)
                throw new CliException($"topic '{name}': {CliSession.ErrorName(session.Client.Metadata.TopicError(name))}");
            int partitionCount = session.Client.Metadata.PartitionCount(name);
            if (part >= partitionCount)
                throw new CliException($"--partition: topic '{name}' has {partitionCount} partitions");

            long sent = 0, acked = 0, failed = 0;
            string? firstError = null;
            void Report(DeliveryReport r)
            {
                if (r.Outcome == DeliveryOutcome.Acked || (ack == 0 && r.Outcome == DeliveryOutcome.Unknown)) acked++;
                else
                {
                    failed++;
                    firstError ??= $"{r.Partition}: {r.Outcome} {CliSession.Describe(r.Error, r.Message)}";
                }
            }

            // Stdin is read on its own thread so lines typed one by one go out at once (after linger.ms) instead of
            // waiting behind a blocking read; the bounded queue holds the reader back when the broker is slower.
            var reader = input?.Invoke() ?? Console.In;
            using var lines = new System.Collections.Concurrent.BlockingCollection<string>(boundedCapacity: 10_000);
            var readerThread = new Thread(() =>
            {
                try
                {
                    string? l;
                    while ((l = reader.ReadLine()) is not null) lines.Add(l);
                }
                finally
                {
                    lines.CompleteAdding();
                }
            }) { IsBackground = true, Name = "detkafka-produce-stdin" };
            readerThread.Start();

            while (!lines.IsCompleted)
            {
                int taken = 0;
                while (taken < 5_000 && lines.TryTake(out var line))
                {
                    taken++;
                    byte[]? key = null;
                    string value = line;
                    if (separator is not null)
                    {
                        int at = line.IndexOf(separator, StringComparison.Ordinal);
                        if (at >= 0)
                        {
                            key = Encoding.UTF8.GetBytes(line[..at]);
                            value = line[(at + separator.Length)..];
                        }
                    }
                    // Keyed records go where the Java client would put them; unkeyed ones round robin.
                    int target = part >= 0 || key is null ? part : KeyPartitioner.Partition(key, partitionCount);
                    var record = new ProducerRecord(name, target, key, Encoding.UTF8.GetBytes(value), null,
                        recordHeaders.Count == 0 ? null : recordHeaders);
                    // A full buffer: run the client until deliveries make room.
                    while (!producer.Send(record, Report))
                    {
                        producer.Flush();
                        session.Driver.Step(10_000);
                    }
                    sent++;
                }
                if (taken > 0) session.Driver.PollNow();
                // Idle: wait a little for the network (and for more lines).
                session.Driver.Step(taken > 0 ? 0 : 5_000);
            }
            producer.Flush();
            session.Driver.PollNow();
            session.RunUntil(() => producer.PendingRecords == 0, "produce");

            if (output.IsJson) output.WriteJson(new { topic = name, produced = acked, failed });
            else output.Error.WriteLine($"Produced {acked} records to {name}" + (failed > 0 ? $", {failed} failed" : ""));
            if (failed > 0) throw new CliException($"{failed} of {sent} records were not delivered; first: {firstError}");
            return 0;
        }));
        return command;
    }
}
