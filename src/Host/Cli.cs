using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using DetKafka.Host.Commands;

namespace DetKafka.Host;

/// <summary>The <c>detkafka</c> command tree. Subcommands live in Commands/: serve, sim, perf, and the client verbs
/// (topic, produce, consume, cluster, records, group) that talk the Kafka protocol to any broker.</summary>
public static class Cli
{
    public static RootCommand Build(Func<IReadOnlyDictionary<string, string>>? environment = null)
    {
        var root = new RootCommand("DetKafka: a Kafka-compatible broker with a deterministic core. Start one with `detkafka serve`.");
        root.Subcommands.Add(ServeCommand.Create(environment ?? ReadEnvironment));
        root.Subcommands.Add(SimCommand.Create());
        root.Subcommands.Add(PerfCommand.Create());
        root.Subcommands.Add(TopicCommand.Create());
        root.Subcommands.Add(ProduceCommand.Create());
        root.Subcommands.Add(ConsumeCommand.Create());
        root.Subcommands.Add(ClusterCommand.Create());
        root.Subcommands.Add(RecordsCommand.Create());
        root.Subcommands.Add(GroupCommand.Create());
        root.Subcommands.Add(CompletionCommand.Create());
        // No command: show the help, as a usage error.
        root.SetAction(parse =>
        {
            new HelpAction().Invoke(parse);
            return ServeCommand.ExitBadConfiguration;
        });
        return root;
    }

    /// <summary>Parse and run. Usage errors (unknown flag, missing value) print to <paramref name="error"/>
    /// and return 2, like bad configuration values.</summary>
    public static int Run(string[] args, TextWriter? output = null, TextWriter? error = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var root = Build(environment is null ? null : () => environment);
        // No response files: `consume -o @TIMESTAMP` means a time, not a file of arguments.
        var parse = root.Parse(SplitAttachedKeySeparator(args), new ParserConfiguration { ResponseFileTokenReplacer = null });
        var configuration = new InvocationConfiguration
        {
            Output = output ?? Console.Out,
            Error = error ?? Console.Error,
        };
        if (parse.Errors.Count > 0)
        {
            foreach (var e in parse.Errors) configuration.Error.WriteLine("detkafka: " + e.Message);
            configuration.Error.WriteLine($"Try '{CommandPath(parse.CommandResult)} --help'.");
            return ServeCommand.ExitBadConfiguration;
        }
        return parse.Invoke(configuration);
    }

    /// <summary>kcat's <c>-K:</c> (separator attached to the flag): System.CommandLine would read the ':' or '='
    /// as its own name/value delimiter and lose it, so <c>-KSEP</c> becomes <c>-K SEP</c>.</summary>
    internal static string[] SplitAttachedKeySeparator(string[] args)
    {
        var result = new List<string>(args.Length + 1);
        foreach (var a in args)
        {
            if (a.Length > 2 && a.StartsWith("-K", StringComparison.Ordinal))
            {
                result.Add("-K");
                result.Add(a[2..]);
            }
            else
            {
                result.Add(a);
            }
        }
        return result.ToArray();
    }

    private static string CommandPath(System.CommandLine.Parsing.CommandResult? result)
    {
        var names = new List<string>();
        for (var r = result; r is not null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
            names.Add(r.Command is RootCommand ? "detkafka" : r.Command.Name);
        names.Reverse();
        return names.Count == 0 ? "detkafka" : string.Join(" ", names);
    }

    public static IReadOnlyDictionary<string, string> ReadEnvironment()
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in Environment.GetEnvironmentVariables())
            if (entry.Key is string key && entry.Value is string value) result[key] = value;
        return result;
    }
}
