import type { Metadata } from "next";
import Link from "next/link";
import type { ReactNode } from "react";
import { TRPCReactProvider } from "@/components/trpc/client";
import "./globals.css";

export const metadata: Metadata = {
  title: "Tributary",
  description: "A low-code visual data-pipeline builder with a durable runtime",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body className="min-h-screen bg-bg font-sans text-fg antialiased">
        <header className="sticky top-0 z-20 border-b border-line bg-surface/95 backdrop-blur">
          <nav aria-label="Main" className="mx-auto flex h-12 max-w-[1600px] items-center gap-6 px-6">
            <Link href="/" className="flex items-center gap-2 rounded text-[15px] font-semibold tracking-tight">
              <svg aria-hidden="true" viewBox="0 0 24 24" className="size-5 text-accent" fill="none" stroke="currentColor" strokeWidth="2.2" strokeLinecap="round">
                <path d="M4 5c5 0 6 7 11 7h5M4 19c5 0 6-7 11-7" />
                <circle cx="4" cy="5" r="1.6" fill="currentColor" />
                <circle cx="4" cy="19" r="1.6" fill="currentColor" />
              </svg>
              Tributary
            </Link>
            <Link href="/" className="rounded text-sm text-muted hover:text-fg">
              Pipelines
            </Link>
          </nav>
        </header>
        <TRPCReactProvider>{children}</TRPCReactProvider>
      </body>
    </html>
  );
}
