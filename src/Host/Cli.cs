using System.Collections;
using System.CommandLine;
using System.CommandLine.Help;
using DetKafka.Host.Commands;

namespace DetKafka.Host;

/// <summary>The <c>detkafka</c> command tree. Subcommands live in Commands/ (serve, sim; perf later).</summary>
public static class Cli
{
    public static RootCommand Build(Func<IReadOnlyDictionary<string, string>>? environment = null)
    {
        var root = new RootCommand("DetKafka: a Kafka-compatible broker with a deterministic core. Start one with `detkafka serve`.");
        root.Subcommands.Add(ServeCommand.Create(environment ?? ReadEnvironment));
        root.Subcommands.Add(SimCommand.Create());
        root.Subcommands.Add(PerfCommand.Create());
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
        var parse = root.Parse(args);
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
