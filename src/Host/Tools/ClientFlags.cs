using System.CommandLine;

namespace DetKafka.Host.Tools;

/// <summary>The flags every client verb takes: where the brokers are, how to print, how long to wait.</summary>
public sealed class ClientFlags
{
    public const string DefaultBrokers = "127.0.0.1:9092";

    public readonly Option<string> Brokers = new("--brokers", "-b")
    {
        Description = "Comma-separated broker addresses host:port",
        HelpName = "host:port",
        DefaultValueFactory = _ => DefaultBrokers,
    };

    public readonly Option<string> Format = new("--format")
    {
        Description = "text (tables, colours on a terminal) or json (one document, for scripts)",
        HelpName = "text|json",
        DefaultValueFactory = _ => "text",
    };

    public readonly Option<int> Timeout = new("--timeout-ms")
    {
        Description = "Give up on the broker after this long",
        HelpName = "ms",
        DefaultValueFactory = _ => 10_000,
    };

    public ClientFlags()
    {
        Format.AcceptOnlyFromAmong("text", "json");
    }

    public static ClientFlags AddTo(Command command)
    {
        var flags = new ClientFlags();
        command.Options.Add(flags.Brokers);
        command.Options.Add(flags.Format);
        command.Options.Add(flags.Timeout);
        return flags;
    }

    public CliOutput Output(ParseResult parse) => new(parse.InvocationConfiguration.Output, parse.InvocationConfiguration.Error,
        parse.GetValue(Format) == "json" ? OutputFormat.Json : OutputFormat.Text);

    public CliSession Open(ParseResult parse, bool allowAutoTopicCreation = false)
    {
        int timeout = parse.GetValue(Timeout);
        if (timeout <= 0) throw new CliException("--timeout-ms: must be positive");
        return new CliSession(CliSession.ParseBrokers(parse.GetValue(Brokers)!), timeout,
            allowAutoTopicCreation: allowAutoTopicCreation);
    }
}
