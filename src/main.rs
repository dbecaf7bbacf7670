fn main() {
    std::process::exit(muster::run(std::env::args_os()));
}
