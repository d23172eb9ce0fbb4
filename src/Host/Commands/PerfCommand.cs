using System.CommandLine;
using System.Runtime.InteropServices;
using DetKafka.Core.Records;
using DetKafka.Host.Perf;

namespace DetKafka.Host.Commands;

/// <summary>
/// <c>detkafka perf produce|consume|e2e</c>: the load generator, after Kafka's kafka-producer-perf-test and
/// kafka-consumer-perf-test (same flag names where they exist). It drives the project's own client
/// (src/Client) over real sockets with pre-built batches; see docs/design/PERFORMANCE.md.
/// </summary>
public static class PerfCommand
{
    public static Command Create()
    {
        var perf = new Command("perf", "Load generator: measure a running broker's produce, consume and end-to-end throughput and latency.");
        perf.Subcommands.Add(Build(PerfMode.Produce, "produce",
            "Produce records as fast as the broker takes them (or at --throughput) and report records/s, MB/s and the latency "
            + "from hand-off to acknowledgement. The last line is the summary, as Kafka's producer perf test prints it."));
        perf.Subcommands.Add(Build(PerfMode.Consume, "consume",
            "Consume a topic (every partition assigned, no group) and report records/s, MB/s and fetch round-trip latency."));
        perf.Subcommands.Add(Build(PerfMode.EndToEnd, "e2e",
            "Produce and consume at once; each record carries its send time, and the consumer reports the end-to-end latency."));
        return perf;
    }

    private static Command Build(PerfMode mode, string name, string description)
    {
        var command = new Command(name, description);
        var topic = new Option<string>("--topic") { Description = "Topic to use", HelpName = "name", Required = true };
        var bootstrap = new Option<string>("--bootstrap-server")
        {
            Description = "Comma-separated broker addresses host:port",
            HelpName = "servers",
            DefaultValueFactory = _ => PerfSettings.DefaultBootstrap,
        };
        var numRecords = new Option<long?>("--num-records") { Description = "Records to send or receive", HelpName = "n" };
        var duration = new Option<long?>("--duration-ms")
        {
            Description = "Run this long (with --num-records too: whichever ends first)",
            HelpName = "ms",
        };
        var connections = new Option<int>("--connections")
        {
            Description = "Client connections, each on its own thread, sharing the partitions",
            HelpName = "n",
            DefaultValueFactory = _ => 1,
        };
        var timeout = new Option<int>("--timeout-ms")
        {
            Description = "Give up setting up, or consuming, after this long without progress",
            HelpName = "ms",
            DefaultValueFactory = _ => 10_000,
        };
        var report = new Option<int>("--reporting-interval")
        {
            Description = "Milliseconds between progress lines",
            HelpName = "ms",
            DefaultValueFactory = _ => 1_000,
        };
        var csv = new Option<string?>("--csv")
        {
            Description = "Also write the run as CSV to this file: per report interval, records/s, MB/s and latency percentiles; and beside it (same name, .html) a self-contained HTML plot of both over time",
            HelpName = "file",
        };
        foreach (var o in new Option[] { topic, bootstrap, numRecords, duration, connections, timeout, report, csv }) command.Options.Add(o);

        Option<int>? recordSize = null, keySize = null, batchSize = null, linger = null, inFlight = null, fetchSize = null;
        Option<int?>? partitions = null;
        Option<string>? acks = null, compression = null;
        Option<double>? throughput = null;
        Option<bool>? fromBeginning = null, fromLatest = null;
        if (mode != PerfMode.Consume)
        {
            recordSize = new Option<int>("--record-size") { Description = "Value bytes per record", HelpName = "bytes", DefaultValueFactory = _ => 100 };
            keySize = new Option<int>("--key-size") { Description = "Key bytes per record; 0 sends no key", HelpName = "bytes", DefaultValueFactory = _ => 0 };
            acks = new Option<string>("--acks") { Description = "all (-1), 1 or 0", HelpName = "acks", DefaultValueFactory = _ => "all" };
            batchSize = new Option<int>("--batch-size") { Description = "batch.size: bytes per record batch", HelpName = "bytes", DefaultValueFactory = _ => 16 * 1024 };
            linger = new Option<int>("--linger-ms") { Description = "linger.ms, with --throughput: how long a batch waits to fill", HelpName = "ms", DefaultValueFactory = _ => 5 };
            inFlight = new Option<int>("--max-in-flight") { Description = "max.in.flight.requests.per.connection", HelpName = "n", DefaultValueFactory = _ => 5 };
            partitions = new Option<int?>("--partitions") { Description = "Create the topic with this many partitions if it is missing [default: the broker's num.partitions]", HelpName = "n" };
            throughput = new Option<double>("--throughput") { Description = "Records per second over all connections; -1 for no limit", HelpName = "rate", DefaultValueFactory = _ => -1 };
            compression = new Option<string>("--compression-type")
            {
                Description = "compression.type of the batches: none, gzip, snappy, lz4 or zstd",
                HelpName = "codec",
                DefaultValueFactory = _ => "none",
            };
            foreach (var o in new Option[] { recordSize, keySize, acks, batchSize, linger, inFlight, partitions, throughput, compression }) command.Options.Add(o);
        }
        else
        {
            fromBeginning = new Option<bool>("--from-beginning") { Description = "Start at each partition's first offset (the default)" };
            fromLatest = new Option<bool>("--from-latest") { Description = "Start at each partition's end instead" };
            fetchSize = new Option<int>("--fetch-size") { Description = "max.partition.fetch.bytes", HelpName = "bytes", DefaultValueFactory = _ => 1024 * 1024 };
            foreach (var o in new Option[] { fromBeginning, fromLatest, fetchSize }) command.Options.Add(o);
        }

        command.SetAction(parse =>
        {
            var error = parse.InvocationConfiguration.Error;
            var output = parse.InvocationConfiguration.Output;
            PerfSettings settings;
            try
            {
                if (fromBeginning is not null && parse.GetValue(fromBeginning) && parse.GetValue(fromLatest!))
                    throw new ArgumentException("--from-beginning and --from-latest exclude each other");
                settings = new PerfSettings
                {
                    Mode = mode,
                    Topic = parse.GetValue(topic)!,
                    BootstrapServers = PerfSettings.ParseBootstrap(parse.GetValue(bootstrap)!),
                    NumRecords = parse.GetValue(numRecords),
                    DurationMs = parse.GetValue(duration),
                    Connections = parse.GetValue(connections),
                    TimeoutMs = parse.GetValue(timeout),
                    ReportIntervalMs = parse.GetValue(report),
                    CsvPath = parse.GetValue(csv),
                    RecordSize = recordSize is null ? 100 : parse.GetValue(recordSize),
                    KeySize = keySize is null ? 0 : parse.GetValue(keySize),
                    Acks = acks is null ? (short)-1 : PerfSettings.ParseAcks(parse.GetValue(acks)!),
                    BatchSize = batchSize is null ? 16 * 1024 : parse.GetValue(batchSize),
                    LingerMs = linger is null ? 5 : parse.GetValue(linger),
                    MaxInFlight = inFlight is null ? 5 : parse.GetValue(inFlight),
                    Compression = compression is null ? CompressionCodec.None : PerfSettings.ParseCompression(parse.GetValue(compression)!),
                    Partitions = partitions is null ? null : parse.GetValue(partitions),
                    Throughput = throughput is null ? -1 : parse.GetValue(throughput),
                    FromBeginning = fromLatest is null || !parse.GetValue(fromLatest),
                    FetchSize = fetchSize is null ? 1024 * 1024 : parse.GetValue(fetchSize),
                };
                settings.Validate();
            }
            catch (ArgumentException e)
            {
                error.WriteLine("detkafka perf: " + e.Message);
                return ServeCommand.ExitBadConfiguration;
            }

            using var cancel = new CancellationTokenSource();
            void OnSignal(PosixSignalContext context)
            {
                // The first signal ends the run early, with its summary; a second one exits at once.
                if (cancel.IsCancellationRequested) return;
                context.Cancel = true;
                cancel.Cancel();
            }
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            return PerfRunner.Run(settings, output, error, cancel.Token);
        });
        return command;
    }
}
