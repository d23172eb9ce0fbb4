using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using Spectre.Console;

namespace DetKafka.Host.Tools;

public enum OutputFormat { Text, Json }

/// <summary>
/// Where a verb writes: Spectre.Console tables (colours on a terminal, plain when redirected) for people, or one
/// JSON document for scripts (<c>--format json</c>). Errors go to the error writer as one line.
/// </summary>
public sealed class CliOutput
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public CliOutput(TextWriter output, TextWriter error, OutputFormat format)
    {
        Writer = output;
        Error = error;
        Format = format;
        bool terminal = ReferenceEquals(output, System.Console.Out) && !System.Console.IsOutputRedirected;
        Console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = terminal ? AnsiSupport.Detect : AnsiSupport.No,
            ColorSystem = terminal ? ColorSystemSupport.Detect : ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
        });
        if (!terminal) Console.Profile.Width = 200;
    }

    public TextWriter Writer { get; }
    public TextWriter Error { get; }
    public OutputFormat Format { get; }
    public IAnsiConsole Console { get; }
    public bool IsJson => Format == OutputFormat.Json;

    public void WriteJson(object value) => Writer.WriteLine(JsonSerializer.Serialize(value, Json));

    public static string JsonLine(object value) => JsonSerializer.Serialize(value, Json);

    /// <summary>A table with bold headers; cells are escaped.</summary>
    public void WriteTable(string? title, string[] headers, IEnumerable<string[]> rows)
    {
        var table = new Table().Border(TableBorder.Simple);
        if (title is not null) table.Title = new TableTitle(Markup.Escape(title), new Style(decoration: Decoration.Bold));
        foreach (var h in headers) table.AddColumn(new TableColumn(new Markup("[bold]" + Markup.Escape(h) + "[/]")));
        foreach (var row in rows) table.AddRow(row.Select(c => (Spectre.Console.Rendering.IRenderable)new Text(c)).ToArray());
        Console.Write(table);
    }

    public void WriteLine(string text) => Console.MarkupLine(text);

    /// <summary>Run a verb: its failure is one line on the error writer and exit code 1.</summary>
    public static int Run(ParseResult parse, Func<ParseResult, int> verb)
    {
        try
        {
            return verb(parse);
        }
        catch (CliException e)
        {
            parse.InvocationConfiguration.Error.WriteLine("detkafka: " + e.Message);
            return 1;
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            parse.InvocationConfiguration.Error.WriteLine("detkafka: " + e.Message);
            return 1;
        }
    }
}
