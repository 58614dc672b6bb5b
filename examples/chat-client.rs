//! A command-line chat client generated from `examples/specs/chat.yaml`.
//!
//! ```sh
//! cargo run --example chat-client -- --name ana --room lobby          # type lines; Ctrl-D quits
//! cargo run --example chat-client -- --name bo --room lobby --say hi  # say, show the echo, quit
//! ```
//!
//! A line `/w SESSION TEXT` whispers to one session (the welcome shows each client its own).

use clap::Parser;
use tokio::io::{AsyncBufReadExt, BufReader};
use wsgen_generated::chat::{
    ChatConnectClient, ChatConnectError, ChatConnectQuery, ClientEvent, Join, Say, ServerEvent,
};
use wsgen_runtime::ConnectOptions;

/// Chat from the command line.
#[derive(Parser)]
struct Args {
    /// The server.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// The token the server knows.
    #[arg(long, default_value = "secret")]
    token: String,
    /// Your name.
    #[arg(long)]
    name: String,
    /// The room to join.
    #[arg(long, default_value = "lobby")]
    room: String,
    /// Say these lines, wait for each to come back, and quit (instead of reading stdin).
    #[arg(long)]
    say: Vec<String>,
}

fn show(event: &ServerEvent) {
    match event {
        ServerEvent::Welcome { session, user } => println!("* {user}, you are session {session}"),
        ServerEvent::Whispered { from, user, text } => println!("({user} #{from}) {text}"),
        ServerEvent::Joined {
            room,
            user,
            members,
        } => println!("[{room}] {user} joined ({members} here)"),
        ServerEvent::Left { room, user } => println!("[{room}] {user} left"),
        ServerEvent::Line(line) => println!("[{}] {}: {}", line.room, line.user, line.text),
        ServerEvent::Notice { text } => println!("* {text}"),
    }
}

fn say(room: &str, text: String) -> ClientEvent {
    if let Some((to, said)) = text
        .strip_prefix("/w ")
        .and_then(|rest| rest.split_once(' '))
        .and_then(|(to, said)| Some((to.parse().ok()?, said)))
    {
        return ClientEvent::Whisper {
            to,
            text: said.to_owned(),
        };
    }
    ClientEvent::Say(Say {
        room: room.to_owned(),
        text,
        mood: None,
        quote: None,
    })
}

#[tokio::main]
async fn main() -> Result<(), ChatConnectError> {
    let args = Args::parse();
    let query = ChatConnectQuery {
        name: args.name.clone(),
    };
    let options =
        ConnectOptions::default().header("authorization", format!("Bearer {}", args.token));
    let mut client = ChatConnectClient::connect_with(&args.url, &query, options).await?;
    client
        .send(ClientEvent::Join(Join {
            room: args.room.clone(),
        }))
        .await?;

    if !args.say.is_empty() {
        for text in args.say {
            client.send(say(&args.room, text.clone())).await?;
            loop {
                let event = client.recv().await?;
                show(&event);
                if matches!(&event, ServerEvent::Line(line) if line.user == args.name && line.text == text)
                {
                    break;
                }
            }
        }
        return client.close().await;
    }

    // Split: the keyboard is read in a task of its own that sends, while this one receives.
    let (mut events, sender) = client.split();
    let room = args.room;
    let keyboard = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).lines();
        while let Ok(Some(text)) = lines.next_line().await {
            if !text.trim().is_empty() {
                sender.send(say(&room, text)).await?;
            }
        }
        // End of input (Ctrl-D): close for both halves; the receiver below then ends.
        sender.close().await
    });
    while let Some(event) = events.recv().await {
        show(&event?);
    }
    keyboard.await.unwrap_or(Ok(()))
}
