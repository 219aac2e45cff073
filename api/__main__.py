from minutebook.api.cli import main

main()
