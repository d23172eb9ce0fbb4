using System.CommandLine;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using DetKafka.Host.Configuration;
using DetKafka.Host.Runtime;
using Serilog;
using Serilog.Core;

namespace DetKafka.Host.Commands;

/// <summary><c>detkafka serve</c>: run one broker until SIGTERM or Ctrl-C.</summary>
public static class ServeCommand
{
    public const int ExitOk = 0;
    public const int ExitFailure = 1;
    public const int ExitBadConfiguration = 2;

    private static readonly Option<string> Listeners = new("--listeners")
    {
        Description = "Listener to bind, PLAINTEXT://host:port or host:port; port 0 picks a free one "
            + "[listeners, DETKAFKA_LISTENERS; default " + ServerOptions.DefaultListeners + "]",
        HelpName = "listener",
    };

    private static readonly Option<string> AdvertisedListeners = new("--advertised-listeners")
    {
        Description = "Address given to clients in metadata [advertised.listeners; default: the listener]",
        HelpName = "listener",
    };

    private static readonly Option<string> NodeId = new("--node-id")
    {
        Description = "Broker id [node.id / broker.id; default 1]",
        HelpName = "id",
    };

    private static readonly Option<string> ControllerQuorum = new("--controller-quorum")
    {
        Description = "Metadata quorum voters, id@host:port,... (each voter is a controller and a broker, reached at "
            + "that address; this node must be one) [controller.quorum.voters; default: none, a single node]",
        HelpName = "voters",
    };

    private static readonly Option<string> DataDir = new("--data-dir")
    {
        Description = "Data directory [log.dirs / log.dir; default " + ServerOptions.DefaultDataDirectory + "]",
        HelpName = "path",
    };

    private static readonly Option<string> NumPartitions = new("--num-partitions")
    {
        Description = "Partitions of auto-created topics [num.partitions; default 1]",
        HelpName = "n",
    };

    private static readonly Option<string> AutoCreateTopics = new("--auto-create-topics")
    {
        Description = "Create unknown topics on metadata/produce requests: true or false [auto.create.topics.enable; default true]",
        HelpName = "bool",
        Arity = ArgumentArity.ZeroOrOne,
    };

    private static readonly Option<string> LogSegmentBytes = new("--log-segment-bytes")
    {
        Description = "Segment size before rolling [log.segment.bytes; default 1073741824]",
        HelpName = "bytes",
    };

    private static readonly Option<string> MessageMaxBytes = new("--message-max-bytes")
    {
        Description = "Largest record batch accepted [message.max.bytes; default 1048588]",
        HelpName = "bytes",
    };

    private static readonly Option<string> ConfigFile = new("--config")
    {
        Description = "Kafka server.properties-style file (key=value, Kafka broker config names)",
        HelpName = "file",
    };

    private static readonly Option<string> LogFile = new("--log-file")
    {
        Description = "Also write the log to this file",
        HelpName = "path",
    };

    private static readonly Option<string> LogLevelOption = new("--log-level")
    {
        Description = "debug, info, warn or error [default info]",
        HelpName = "level",
    };

    private static readonly Option<string> LogFormatOption = new("--log-format")
    {
        Description = "text (human-readable lines) or json (Serilog compact JSON, one event per line) [default text]",
        HelpName = "format",
    };

    private static readonly Option<string> MetricsListenerOption = new("--metrics-listener")
    {
        Description = "Prometheus endpoint host:port (served at /metrics), or off [metrics.listener; default "
            + ServerOptions.DefaultMetricsListener + "]",
        HelpName = "host:port|off",
    };

    private static readonly Option<bool> PrintConfig = new("--print-config")
    {
        Description = "Print the effective configuration, with where each value came from, and exit",
    };

    /// <param name="environment">Reads the process environment (injected by tests).</param>
    public static Command Create(Func<IReadOnlyDictionary<string, string>> environment)
    {
        var command = new Command("serve",
            "Run a broker until SIGTERM or Ctrl-C. Settings come from flags, then DETKAFKA_<NAME> environment "
            + "variables (Kafka name upper-cased, dots as underscores), then --config, then defaults.");
        foreach (var option in new[] { Listeners, AdvertisedListeners, NodeId, ControllerQuorum, DataDir, NumPartitions, AutoCreateTopics,
                     LogSegmentBytes, MessageMaxBytes, MetricsListenerOption, ConfigFile, LogFile, LogLevelOption, LogFormatOption })
            command.Options.Add(option);
        command.Options.Add(PrintConfig);
        command.SetAction(parse => Run(parse, environment()));
        return command;
    }

    private static string? Flag(ParseResult parse, Option<string> option)
    {
        if (parse.GetResult(option) is not { } result || result.Implicit) return null;
        // "--auto-create-topics" alone means true.
        return result.Tokens.Count == 0 ? "true" : parse.GetValue(option);
    }

    private static int Run(ParseResult parse, IReadOnlyDictionary<string, string> environment)
    {
        var error = parse.InvocationConfiguration.Error;
        var arguments = new ServeArguments
        {
            Listeners = Flag(parse, Listeners),
            AdvertisedListeners = Flag(parse, AdvertisedListeners),
            NodeId = Flag(parse, NodeId),
            ControllerQuorum = Flag(parse, ControllerQuorum),
            DataDir = Flag(parse, DataDir),
            NumPartitions = Flag(parse, NumPartitions),
            AutoCreateTopics = Flag(parse, AutoCreateTopics),
            LogSegmentBytes = Flag(parse, LogSegmentBytes),
            MessageMaxBytes = Flag(parse, MessageMaxBytes),
            ConfigFile = Flag(parse, ConfigFile),
            LogFile = Flag(parse, LogFile),
            LogLevel = Flag(parse, LogLevelOption),
            LogFormat = Flag(parse, LogFormatOption),
            MetricsListener = Flag(parse, MetricsListenerOption),
        };

        ServerSettings settings;
        try
        {
            settings = Resolve(arguments, environment);
        }
        catch (ConfigException e)
        {
            error.WriteLine("detkafka serve: " + e.Message);
            return ExitBadConfiguration;
        }

        if (parse.GetValue(PrintConfig))
        {
            var output = new Tools.CliOutput(parse.InvocationConfiguration.Output, error, Tools.OutputFormat.Text);
            output.WriteTable(null, ["SETTING", "VALUE", "SOURCE"], settings.Effective.Select(e => new[] { e.Key, e.Value, e.Source }));
            foreach (var warning in settings.Warnings) error.WriteLine("detkafka serve: warning: " + warning);
            return ExitOk;
        }

        using var logger = CreateLogger(settings);
        Log.Logger = logger;
        foreach (var warning in settings.Warnings) logger.Warning("{ConfigWarning}", warning);

        BrokerHost host;
        try
        {
            host = BrokerHost.Start(settings, logger);
        }
        catch (SocketException e)
        {
            logger.Fatal("Cannot listen on {Listener}: {Reason}", settings.Listener.HostPort, e.Message);
            return ExitFailure;
        }
        catch (MetricsListenerException e)
        {
            logger.Fatal("Refusing to start: {Reason} (--metrics-listener host:port or off)", e.Message);
            return ExitFailure;
        }
        catch (DataDirectoryInUseException e)
        {
            logger.Fatal("Refusing to start: {Reason}", e.Message);
            return ExitFailure;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            logger.Fatal("Cannot use data directory {DataDirectory}: {Reason}", settings.DataDirectory, e.Message);
            return ExitFailure;
        }
        catch (Exception e)
        {
            logger.Fatal(e, "Broker failed to start");
            return ExitFailure;
        }

        int signals = 0;
        void OnSignal(PosixSignalContext context)
        {
            // The first signal stops gracefully; a second one falls through to the default: exit at once.
            if (Interlocked.Increment(ref signals) > 1) return;
            context.Cancel = true;
            logger.Information("Received {Signal}, stopping", context.Signal.ToString());
            host.RequestStop();
        }
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

        try
        {
            host.Completion.GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            return ExitFailure; // the driver logged it
        }
        return ExitOk;
    }

    private static ServerSettings Resolve(ServeArguments arguments, IReadOnlyDictionary<string, string> environment)
    {
        string? fileText = null;
        string fileName = "config file";
        if (arguments.ConfigFile is { } path)
        {
            fileName = path;
            try
            {
                fileText = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                throw new ConfigException($"--config: cannot read '{path}': {e.Message}");
            }
        }
        string hostName;
        try
        {
            hostName = Dns.GetHostName();
        }
        catch (SocketException)
        {
            hostName = "localhost";
        }
        return ServerOptions.Resolve(arguments, environment, fileText, fileName, hostName);
    }

    /// <summary>Human-readable lines (coloured on a terminal), or Serilog's compact JSON (one event per line) with
    /// --log-format json, for the console and the log file alike.</summary>
    private static Logger CreateLogger(ServerSettings settings)
    {
        const string template = "{Timestamp:yyyy-MM-dd HH:mm:ss.fff} {Level:u3} {Message:lj}{NewLine}{Exception}";
        var configuration = new LoggerConfiguration()
            .MinimumLevel.Is(SerilogBrokerLog.ToSerilog(settings.LogLevel));
        if (settings.LogFormat == "json")
        {
            var json = new Serilog.Formatting.Compact.CompactJsonFormatter();
            configuration = configuration.WriteTo.Console(json);
            if (settings.LogFile is { } jsonPath) configuration = configuration.WriteTo.File(json, jsonPath);
        }
        else
        {
            configuration = configuration.WriteTo.Console(outputTemplate: template);
            if (settings.LogFile is { } path) configuration = configuration.WriteTo.File(path, outputTemplate: template);
        }
        return configuration.CreateLogger();
    }
}
